/**
 * CLI start-up benchmark: wall time from spawning `aiconexus --version` to its exit, as installed
 * (the built `dist/cli/main.js`, built first if missing) and from source (`src/cli/main.ts`),
 * beside two programs that are not ours on the same node binary: `node -e 0` (the floor) and
 * `npm --version` (another Node CLI). Runs are interleaved; every sample is printed.
 */
import { spawnSync } from "node:child_process"
import { existsSync, realpathSync } from "node:fs"
import { join } from "node:path"

const ROOT = new URL("..", import.meta.url).pathname
const RUNS = 10

/** One run's wall time in ms; throws if the command fails. */
const time = (args: ReadonlyArray<string>): number => {
  const start = performance.now()
  const result = spawnSync(process.execPath, args, { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
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
  const subjects: Array<readonly [string, ReadonlyArray<string>]> = [
    ["aiconexus --version (dist, as installed)", ["dist/cli/main.js", "--version"]],
    ["aiconexus --version (src, type stripping)", ["src/cli/main.ts", "--version"]],
    // Not the bare --version: through effect/cli, still without any subcommand module.
    ["aiconexus --log-level info --version (dist)", ["dist/cli/main.js", "--log-level", "info", "--version"]],
    ["node -e 0 (baseline: the floor)", ["-e", "0"]],
    ...(npm === undefined || !existsSync(npm) ? [] : [["npm --version (baseline: another Node CLI)", [npm, "--version"]] as const])
  ]
  const samples = new Map(subjects.map(([name]) => [name, [] as Array<number>]))
  for (const [, args] of subjects) time(args) // warm the file cache
  for (let run = 0; run < RUNS; run++) {
    for (const [name, args] of subjects) samples.get(name)!.push(time(args))
  }
  console.log(`cli start-up, ${RUNS} runs each (node ${process.versions.node}), ms`)
  const floor = median(samples.get(subjects[3]![0])!)
  const npmMedian = subjects[4] === undefined ? undefined : median(samples.get(subjects[4][0])!)
  for (const [name] of subjects) {
    const values = samples.get(name)!
    const m = median(values)
    const ratios = `${(m / floor).toFixed(1)}× node -e 0${npmMedian === undefined ? "" : `, ${(m / npmMedian).toFixed(2)}× npm --version`}`
    console.log(`${name.padEnd(44)} median ${m.toFixed(0).padStart(5)}  min ${Math.min(...values).toFixed(0).padStart(5)}  max ${Math.max(...values).toFixed(0).padStart(5)}  (${ratios})`)
    console.log(`${"".padEnd(44)} runs ${values.map((v) => v.toFixed(0)).join(" ")}`)
  }
}
