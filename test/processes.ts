/**
 * Node processes for end-to-end tests: run one to completion, or keep one in the background.
 */
import { spawn } from "node:child_process"
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect } from "effect"

/** The project root. */
export const ROOT = new URL("..", import.meta.url).pathname

/** The CLI's entry point, as `node` arguments. */
export const CLI = ["src/cli/main.ts"]

/** The node flags of package.json's `start` script: how `npm start` runs the gateway. */
export const startNodeFlags = (): ReadonlyArray<string> =>
  (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start
    .split(" ")
    .filter((word) => word.startsWith("--"))

/** How a process is run to its end. */
export interface RunOptions {
  readonly cwd?: string
  readonly timeoutMs?: number
  readonly env?: Record<string, string>
}

/** Runs `node ...args` to its end; its exit code and output. Killed after `timeoutMs`: a hang fails the test. */
export const runNode = (args: ReadonlyArray<string>, options: RunOptions = {}) => run(process.execPath, args, options)

/** Runs `command ...args` to its end; its exit code and output (stdout and stderr). Killed after `timeoutMs`. */
export const run = (command: string, args: ReadonlyArray<string>, options: RunOptions = {}) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(command, args, {
      cwd: options.cwd ?? ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...options.env }
    })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 30_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, output }))
    })
    // Interrupted (the test gave up): the process goes too.
    return Effect.sync(() => {
      clearTimeout(timer)
      child.kill("SIGKILL")
    })
  })

/** Runs the CLI with `args` to its end. */
export const runCli = (args: ReadonlyArray<string>) => runNode([...CLI, ...args])

/** `node ...args` kept running in the background; its output lines as they come; killed with the scope. */
export const background = (args: ReadonlyArray<string>, env: Record<string, string> = {}, cwd: string = ROOT) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } })
      const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter((l) => l !== ""))
      child.stdout.on("data", collect)
      child.stderr.on("data", collect)
      let code: number | null | undefined
      child.on("exit", (exitCode) => (code = exitCode))
      /** The exit code once it exited (waits up to 20 s). */
      const exited = Effect.gen(function*() {
        while (code === undefined) yield* Effect.sleep("20 millis")
        return code
      }).pipe(Effect.timeout("20 seconds"))
      return { child, lines, exited }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

/** The first output line matching `pattern` (waits up to 20 s for it). */
export const line = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  Effect.gen(function*() {
    while (true) {
      const found = lines.map((l) => pattern.exec(l)).find((m) => m !== null)
      if (found) return found
      yield* Effect.sleep("20 millis")
    }
  }).pipe(Effect.timeout("20 seconds"))

/**
 * A new folder for a test's files: inside the run's temporary HOME (test/isolatedHome.ts), which
 * is removed when the run ends, or in the system's temporary folder without it.
 */
export const temporaryFolder = (prefix: string): string => {
  const home = process.env.HOME ?? ""
  const isolated = home.startsWith(join(tmpdir(), "aiconexus-test-home-"))
  return mkdtempSync(join(isolated ? home : tmpdir(), `aiconexus-${prefix}-`))
}
