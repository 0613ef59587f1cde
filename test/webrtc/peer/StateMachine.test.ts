import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, SubscriptionRef } from "effect"
import * as PeerStates from "../../../src/webrtc/peer/PeerStates.ts"
import * as StateMachine from "../../../src/machine/StateMachine.ts"

/**
 * The specification, written out independently of the implementation's tables: for each state,
 * the events allowed and where they lead ("." = stays). Every other pair must be refused.
 */
const connectionSpec: Record<string, string> = {
  new: "connecting>connecting connected>connected failed>failed closed>closed",
  connecting: "connecting>. connected>connected disconnected>disconnected failed>failed closed>closed",
  connected: "connected>. disconnected>disconnected failed>failed closed>closed",
  disconnected: "connecting>connecting connected>connected disconnected>. failed>failed closed>closed",
  failed: "connecting>connecting failed>. closed>closed",
  closed: "closed>."
}
const iceSpec: Record<string, string> = {
  new: "checking>checking connected>connected completed>completed failed>failed closed>closed",
  checking: "checking>. connected>connected completed>completed failed>failed disconnected>disconnected closed>closed",
  connected: "checking>checking connected>. completed>completed failed>failed disconnected>disconnected closed>closed",
  completed: "checking>checking connected>connected completed>. failed>failed disconnected>disconnected closed>closed",
  failed: "checking>checking failed>. closed>closed",
  disconnected: "checking>checking connected>connected completed>completed failed>failed disconnected>. closed>closed",
  closed: "closed>."
}
const signalingSpec: Record<string, string> = {
  stable: "setLocalOffer>have-local-offer setRemoteOffer>have-remote-offer close>closed",
  "have-local-offer": "setRemoteAnswer>stable rollback>stable close>closed",
  "have-remote-offer": "setLocalAnswer>stable rollback>stable close>closed",
  closed: ""
}

const cases = <S extends string, E extends string>(machine: StateMachine.Machine<S, E>, spec: Record<string, string>) =>
  machine.states.flatMap((state) => {
    const allowed = new Map((spec[state] ?? "").split(" ").filter((x) => x !== "").map((pair) => {
      const [event, next] = pair.split(">") as [string, string]
      return [event, next === "." ? state : next] as const
    }))
    return machine.events.map((event) => ({ machine, state, event, expected: allowed.get(event) }))
  })

describe("state machines", () => {
  const all = [
    ...cases(PeerStates.connection, connectionSpec),
    ...cases(PeerStates.ice, iceSpec),
    ...cases(PeerStates.signaling, signalingSpec)
  ]

  it("covers every state × event pair of the three machines", () => {
    assert.strictEqual(all.length, 6 * 5 + 7 * 6 + 4 * 6)
  })

  it.each(all.map((c) => [c.machine.name, c.state, c.event, c.expected ?? "refused", c] as const))(
    "%s: %s × %s → %s",
    (_machine, _state, _event, _expected, { event, expected, machine, state }) => {
      const result = StateMachine.transition(machine as StateMachine.Machine<string, string>, state, event)
      if (expected === undefined) {
        assert.isTrue(Result.isFailure(result))
        if (Result.isFailure(result)) {
          assert.strictEqual(result.failure._tag, "InvalidTransition")
          assert.deepStrictEqual({ machine: result.failure.machine, state: result.failure.state, event: result.failure.event }, { machine: machine.name, state, event })
        }
      } else {
        assert.deepStrictEqual(result, Result.succeed(expected))
      }
    }
  )

  it.effect("a MachineRef applies allowed events, refuses others without changing state, and streams changes", () =>
    Effect.gen(function*() {
      const ref = yield* StateMachine.makeRef(PeerStates.signaling)
      assert.strictEqual(yield* ref.apply("setLocalOffer"), "have-local-offer")
      const refused = yield* Effect.flip(ref.apply("setLocalOffer"))
      assert.strictEqual(refused.message, "signaling: \"setLocalOffer\" is not allowed in state \"have-local-offer\"")
      assert.strictEqual(yield* SubscriptionRef.get(ref.state), "have-local-offer")
      yield* ref.check("setRemoteAnswer")
      assert.strictEqual(yield* SubscriptionRef.get(ref.state), "have-local-offer")
      assert.strictEqual(yield* ref.apply("setRemoteAnswer"), "stable")
    }))
})
