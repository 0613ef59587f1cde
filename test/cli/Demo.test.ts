import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { printable } from "../../src/cli/Terminal.ts"
import { runCli as cli } from "../processes.ts"

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
