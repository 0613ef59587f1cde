import { assert, describe, it } from "@effect/vitest"
import * as ClientState from "../../src/client/ClientState.ts"
import { assertCase, cases } from "../machine/tableSpec.ts"

/** The gateway client's lifecycle, written out independently of its table ("." = stays). */
const spec = {
  Disconnected: "connect>Connecting fail>Closed close>Closed",
  Connecting: "register>Registered drop>Reconnecting fail>Closed close>Closed",
  Registered: "drop>Reconnecting fail>Closed close>Closed",
  Reconnecting: "connect>Connecting fail>Closed close>Closed",
  Closed: "close>."
}

describe("gateway client lifecycle", () => {
  const all = cases(ClientState.machine, spec)

  it("covers every state × event pair, starting disconnected", () => {
    assert.strictEqual(all.length, 5 * 5)
    assert.strictEqual(ClientState.machine.initial, "Disconnected")
  })

  it.each(all.map((c) => [c.state, c.event, c.expected ?? "refused", c] as const))("%s × %s → %s", (_state, _event, _expected, c) =>
    assertCase(ClientState.machine, c))
})
