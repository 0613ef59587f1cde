/**
 * CLI start-up benchmark: wall time from spawning `aiconexus --version` to its exit, as installed
 * (the built `dist/cli/main.js`, built first if missing), from source (`src/cli/main.ts`) and
 * through `npx`, beside programs that are not ours on the same node binary: `node -e 0` (the
 * floor), `npm --version` (another Node CLI) and `npx node -e 0` (what npx itself costs). Runs
 * are interleaved; every sample is printed.
 */
import { spawnSync } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { join } from "node:path"

const ROOT = new URL("..", import.meta.url).pathname
const RUNS = 10

/** One run's wall time in ms (of `node ...args`, or `command ...args`); throws if the command fails. */
const time = (args: ReadonlyArray<string>, command = process.execPath): number => {
  const start = performance.now()
  const result = spawnSync(command, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
  const elapsed = performance.now() - start
  if (result.status !== 0) throw new Error(`${args.join(" ")} exited ${result.status}: ${result.stderr}`)
  return elapsed
}

const npmCli = (): string | undefined => {
  const npm = spawnSync("sh", ["-c", "command -v npm"], { encoding: "utf8" }).stdout.trim()
  if (npm === "") return undefined
  const script = realpathSync(npm)
  return script.endsWith(".js") ? script : join(script, "..", "..", "lib/node_modules/npm/bin/npm-cli.js")
}

const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)]!
}

export const main = async (): Promise<void> => {
  if (!existsSync(join(ROOT, "dist/cli/main.js"))) {
    const built = spawnSync("npm", ["run", "build"], { cwd: ROOT, stdio: "inherit" })
    if (built.status !== 0) throw new Error("npm run build failed")
  }
  const npm = npmCli()
  const subjects: Array<readonly [string, ReadonlyArray<string>, string?]> = [
    ["aiconexus --version (dist, as installed)", ["dist/cli/main.js", "--version"]],
    ["aiconexus --version (src, type stripping)", ["src/cli/main.ts", "--version"]],
    // Not the bare --version: through effect/cli, still without any subcommand module.
    ["aiconexus --log-level info --version (dist)", ["dist/cli/main.js", "--log-level", "info", "--version"]],
    // As a user types it in the repository: npm's own start-up (npm exec) comes first.
    ["npx aiconexus --version (npm exec, then dist)", ["aiconexus", "--version"], "npx"],
    ["node -e 0 (baseline: the floor)", ["-e", "0"]],
    ...(npm === undefined || !existsSync(npm) ? [] : [["npm --version (baseline: another Node CLI)", [npm, "--version"]] as const]),
    // The npx row's baseline: npm exec running a program that is not ours.
    ["npx node -e 0 (baseline: npm exec itself)", ["node", "-e", "0"], "npx"]
  ]
  const samples = new Map(subjects.map(([name]) => [name, [] as Array<number>]))
  for (const [, args, command] of subjects) time(args, command) // warm the file cache
  for (let run = 0; run < RUNS; run++) {
    for (const [name, args, command] of subjects) samples.get(name)!.push(time(args, command))
  }
  console.log(`cli start-up, ${RUNS} runs each (node ${process.versions.node}), ms`)
  const floor = median(samples.get(subjects[4]![0])!)
  const npmMedian = subjects[5] === undefined ? undefined : median(samples.get(subjects[5][0])!)
  for (const [name] of subjects) {
    const values = samples.get(name)!
    const m = median(values)
    const ratios = `${(m / floor).toFixed(1)}× node -e 0${npmMedian === undefined ? "" : `, ${(m / npmMedian).toFixed(2)}× npm --version`}`
    console.log(`${name.padEnd(46)} median ${m.toFixed(0).padStart(5)}  min ${Math.min(...values).toFixed(0).padStart(5)}  max ${Math.max(...values).toFixed(0).padStart(5)}  (${ratios})`)
    console.log(`${"".padEnd(46)} runs ${values.map((v) => v.toFixed(0)).join(" ")}`)
  }
}
