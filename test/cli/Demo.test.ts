import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { printable } from "../../src/cli/DemoCommand.ts"

const ROOT = new URL("../..", import.meta.url).pathname

/** Runs the CLI with `args`; its exit code and output (killed after 30 s: a hang fails the test). */
const cli = (args: ReadonlyArray<string>) =>
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

describe("aiconexus demo", () => {
  it.live.each(["node-datachannel", "werift"] as const)("runs end to end over %s, prints each step and exits 0", (transport) =>
    Effect.gen(function*() {
      const { code, output } = yield* cli(["demo", "--transport", transport])
      assert.strictEqual(code, 0, output)
      for (const expected of [
        "gateway up at ws://127.0.0.1:",
        "registered",
        "alice discovered \"bob\" serving echo",
        `connected over ${transport}`,
        "bob got a signed INTENT from alice",
        "alice called echo: success, result {\"text\":\"hello, peer\"}",
        "1 MiB payload sent on a framed channel and confirmed by bob",
        "demo complete"
      ]) assert.include(output, expected)
      assert.match(output, /^\[\s*\d+\.\d ms\] /m)
    }), { timeout: 40_000 })

  it.live("refuses an unknown transport with a clear message and a non-zero exit", () =>
    Effect.gen(function*() {
      const { code, output } = yield* cli(["demo", "--transport", "carrier-pigeon"])
      assert.notStrictEqual(code, 0)
      assert.include(output, "carrier-pigeon")
    }), { timeout: 40_000 })

  it("escapes control characters in text that comes from peers", () => {
    assert.strictEqual(printable("ok\u001b[2J\nnext\u0007"), "ok\\u001b[2J\\u000anext\\u0007")
    assert.strictEqual(printable("plain é ☕"), "plain é ☕")
  })
})
