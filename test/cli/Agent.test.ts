/**
 * End to end with processes: `aiconexus gateway`, `agent listen` and `agent call` / `agent send`
 * as separate processes, talking over a real data channel.
 */
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const ROOT = new URL("../..", import.meta.url).pathname

/** A long-running CLI process; its output lines; killed with the scope. */
const background = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      const child = spawn(process.execPath, ["src/cli/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
      const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter((l) => l !== ""))
      child.stdout!.on("data", collect)
      child.stderr!.on("data", collect)
      return { child, lines }
    }),
    ({ child }) => Effect.sync(() => child.kill("SIGKILL"))
  )

const line = (lines: ReadonlyArray<string>, pattern: RegExp) =>
  Effect.gen(function*() {
    while (true) {
      const found = lines.map((l) => pattern.exec(l)).find((m) => m !== null)
      if (found) return found
      yield* Effect.sleep("20 millis")
    }
  }).pipe(Effect.timeout("20 seconds"))

/** A CLI command run to completion. */
const run = (args: ReadonlyArray<string>) =>
  Effect.callback<{ readonly code: number | null; readonly output: string }>((resume) => {
    const child = spawn(process.execPath, ["src/cli/main.ts", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000)
    child.on("exit", (code) => {
      clearTimeout(timer)
      resume(Effect.succeed({ code, output }))
    })
  })

describe("agent commands as processes", () => {
  it.live("gateway + agent listen + agent call / send / discover exchange over a real data channel", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "aiconexus-cli-"))
      const gateway = yield* background(["gateway", "--port", "0", "--data-dir", join(dir, "gw")])
      const url = (yield* line(gateway.lines, /listening on (\S+)/))[1]!
      const listener = yield* background(["agent", "listen", "--gateway", url, "--identity", join(dir, "b", "id.json"), "--capability", "echo"])
      const did = (yield* line(listener.lines, /listening as (\S+)/))[1]!
      const caller = ["--gateway", url, "--identity", join(dir, "a", "id.json")]

      const found = yield* run(["discover", ...caller, "--capability", "echo"])
      assert.strictEqual(found.code, 0, found.output)
      assert.include(found.output, did)

      const called = yield* run(["agent", "call", did, "echo", "{\"text\":\"hi\",\"n\":2}", ...caller])
      assert.strictEqual(called.code, 0, called.output)
      assert.deepStrictEqual(JSON.parse(called.output.trim().split("\n").at(-1)!), { text: "hi", n: 2 })
      yield* line(listener.lines, /^call echo from did:key:/)

      const sent = yield* run(["agent", "send", did, "hello\u001b[2Jbob", ...caller])
      assert.strictEqual(sent.code, 0, sent.output)
      // Control characters from a peer are escaped when printed.
      const printed = (yield* line(listener.lines, /^intent from (\S+): (.*)$/))[2]!
      assert.include(printed, "hello\\u001b[2Jbob")
      assert.notInclude(printed, "\u001b")

      const unknown = yield* run(["agent", "call", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "echo", "{}", ...caller, "--timeout-ms", "2000"])
      assert.notStrictEqual(unknown.code, 0)
      assert.match(unknown.output, /^error: /m)
      assert.notInclude(unknown.output, "    at ")
    }).pipe(Effect.scoped), { timeout: 90_000 })
})
