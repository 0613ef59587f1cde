import { assert, describe, it } from "@effect/vitest"
import * as SessionState from "../../src/gateway/SessionState.ts"
import { assertCase, cases } from "../machine/tableSpec.ts"

/** The gateway session's lifecycle, written out independently of its table ("." = stays). */
const spec = {
  awaitingRegister: "register>registered close>closing end>ended",
  registered: "close>closing end>ended",
  closing: "end>ended",
  ended: "end>."
}

describe("gateway session lifecycle", () => {
  const all = cases(SessionState.machine, spec)

  it("covers every state × event pair, starting with the CHALLENGE sent", () => {
    assert.strictEqual(all.length, 4 * 3)
    assert.strictEqual(SessionState.machine.initial, "awaitingRegister")
  })

  it.each(all.map((c) => [c.state, c.event, c.expected ?? "refused", c] as const))("%s × %s → %s", (_state, _event, _expected, c) =>
    assertCase(SessionState.machine, c))

  it("is open (handles frames, may be closed) until it closes or ends", () => {
    assert.deepStrictEqual(SessionState.machine.states.filter(SessionState.isOpen), ["awaitingRegister", "registered"])
  })
})
