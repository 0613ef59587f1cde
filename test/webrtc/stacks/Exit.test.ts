import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"

const ROOT = new URL("../../..", import.meta.url).pathname

describe("resources", () => {
  it.live("closing the scopes leaves no socket or timer open: the process exits by itself", () =>
    Effect.gen(function*() {
      const result = yield* Effect.callback<{ code: number | null; output: string }>((resume) => {
        const child = spawn(process.execPath, ["test/webrtc/exitCheck.ts"], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] })
        let output = ""
        child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()))
        child.on("exit", (code) => resume(Effect.succeed({ code, output })))
        // A process that does not exit is killed, and the test fails below.
        const timer = setTimeout(() => child.kill("SIGKILL"), 25_000)
        child.on("exit", () => clearTimeout(timer))
      })
      assert.include(result.output, "scopes closed")
      // Killed after 25 s (a leaked socket or timer) it would exit with no code.
      assert.strictEqual(result.code, 0, result.output)
    }), { timeout: 40_000 })
})
