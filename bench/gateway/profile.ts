/**
 * Summarises a V8 `.cpuprofile` (from `GATEWAY_BENCH_CPU_PROF=<dir> npm run bench -- gateway`):
 * self time by function and by where the code lives.
 *
 *   npx node bench/gateway/profile.ts <file.cpuprofile> [top=30] [from:to]
 *
 * `from:to` (seconds since the profile started) keeps only the samples in that window, e.g. the
 * paced phase of a relay run; without it a timeline of busy time per second is printed first, to
 * find the phases in.
 */
import { readFileSync } from "node:fs"

interface ProfileNode {
  readonly id: number
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number }
  readonly hitCount?: number
  readonly children?: ReadonlyArray<number>
}
interface Profile {
  readonly nodes: ReadonlyArray<ProfileNode>
  readonly startTime: number
  readonly endTime: number
  readonly samples: ReadonlyArray<number>
  readonly timeDeltas: ReadonlyArray<number>
}

const file = process.argv[2]
if (file === undefined) {
  console.error("usage: npx node bench/gateway/profile.ts <file.cpuprofile> [top]")
  process.exit(2)
}
const top = Number(process.argv[3] ?? 30)
const window = process.argv[4]?.split(":").map(Number)
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile
const byId = new Map(profile.nodes.map((node) => [node.id, node]))

// When each sample was taken (seconds since the start); samples outside the window count as not taken.
const at: Array<number> = []
let clock = 0
profile.samples.forEach((_, i) => {
  clock += profile.timeDeltas[i] ?? 0
  at.push(clock / 1e6)
})
const inWindow = (i: number) => window === undefined || (at[i]! >= window[0]! && at[i]! < window[1]!)
if (window === undefined) {
  const busy: Array<number> = []
  profile.samples.forEach((id, i) => {
    if (byId.get(id)?.callFrame.functionName === "(idle)") return
    const second = Math.floor(at[i]!)
    busy[second] = (busy[second] ?? 0) + (profile.timeDeltas[i + 1] ?? 0)
  })
  console.log(`busy per second: ${Array.from(busy, (us, s) => `${s}:${Math.round((us ?? 0) / 1e4)}%`).join(" ")}`)
}

// Self time of each node: the time deltas of the samples that landed in it.
const selfUs = new Map<number, number>()
profile.samples.forEach((id, i) => {
  if (inWindow(i)) selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i + 1] ?? 0))
})

const where = (url: string): string => {
  if (url === "") return "(native / V8)"
  if (url.startsWith("node:")) return "node internals"
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules !== null) return modules[1]!
  const project = /\/(src|bench|test)\/(.*)$/.exec(url)
  return project !== null ? `${project[1]}/${project[2]}` : url
}

/** The file of a URL, shortened to its package (or project) path. */
const shortFile = (url: string): string => {
  const modules = /node_modules\/(.*)$/.exec(url)
  if (modules !== null) return modules[1]!.replace(/\/dist\//, "/")
  const project = /\/(src|bench|test)\/(.*)$/.exec(url)
  return project !== null ? `${project[1]}/${project[2]}` : url
}

const functions = new Map<string, number>()
const places = new Map<string, number>()
let total = 0
let idle = 0
for (const [id, us] of selfUs) {
  const node = byId.get(id)!
  const { functionName, url, lineNumber } = node.callFrame
  if (functionName === "(idle)") {
    idle += us
    continue
  }
  total += us
  const place = where(url)
  const name = `${functionName || "(anonymous)"}  ${url === "" ? place : `${shortFile(url)}:${lineNumber + 1}`}`
  functions.set(name, (functions.get(name) ?? 0) + us)
  places.set(place, (places.get(place) ?? 0) + us)
}

// Inclusive time: each sample counts once for every distinct function on its stack.
const parent = new Map<number, number>()
for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
const keyOf = (node: ProfileNode) => {
  const { functionName, url, lineNumber } = node.callFrame
  return `${functionName || "(anonymous)"}  ${url === "" ? where(url) : `${shortFile(url)}:${lineNumber + 1}`}`
}
const inclusive = new Map<string, number>()
profile.samples.forEach((leaf, i) => {
  if (!inWindow(i)) return
  const us = profile.timeDeltas[i + 1] ?? 0
  if (byId.get(leaf)?.callFrame.functionName === "(idle)") return
  const seen = new Set<string>()
  for (let id: number | undefined = leaf; id !== undefined; id = parent.get(id)) {
    const key = keyOf(byId.get(id)!)
    if (seen.has(key)) continue
    seen.add(key)
    inclusive.set(key, (inclusive.get(key) ?? 0) + us)
  }
})

const pct = (us: number) => `${((100 * us) / total).toFixed(1).padStart(5)}%`
console.log(`${file}: ${(total / 1e6).toFixed(2)} s on CPU (${(idle / 1e6).toFixed(2)} s idle) over ${((profile.endTime - profile.startTime) / 1e6).toFixed(2)} s`)
console.log("\nself time by package / file:")
for (const [place, us] of [...places].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`  ${pct(us)}  ${place}`)
console.log(`\ntop ${top} functions by self time:`)
for (const [name, us] of [...functions].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`  ${pct(us)}  ${name}`)
console.log(`\ntop ${top} functions by total (inclusive) time, project code and effect/ws entry points:`)
for (const [name, us] of [...inclusive].filter(([name]) => /src\/|bench\/|ws\/lib\/|socket\/|http\//.test(name)).sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`  ${pct(us)}  ${name}`)
}
