import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Result, Scope } from "effect"
import * as StateMachine from "../../../src/machine/StateMachine.ts"
import * as LinkState from "../../../src/webrtc/link/LinkState.ts"
import type { OpenLink } from "../../../src/webrtc/link/LinkState.ts"

/**
 * The link's lifecycle, written out independently of the implementation's table: for each state,
 * the events allowed and where they lead ("." = stays). Every other pair must be refused.
 */
const linkSpec: Record<string, string> = {
  negotiating: "opened>open end>ended",
  open: "recover>recovering end>ended",
  recovering: "recover>. recovered>open abandoned>open end>ended",
  ended: "end>."
}
const STATES = ["negotiating", "open", "recovering", "ended"]
const EVENTS = ["opened", "recover", "recovered", "abandoned", "end"]

const cases = STATES.flatMap((state) => {
  const allowed = new Map(linkSpec[state]!.split(" ").map((pair) => {
    const [event, next] = pair.split(">") as [string, string]
    return [event, next === "." ? state : next] as const
  }))
  return EVENTS.map((event) => ({ state, event, expected: allowed.get(event) }))
})

describe("link lifecycle", () => {
  it("has the states and events of the spec, and covers every pair", () => {
    assert.deepStrictEqual([...LinkState.lifecycle.states], STATES)
    assert.deepStrictEqual([...LinkState.lifecycle.events], EVENTS)
    assert.strictEqual(LinkState.lifecycle.initial, "negotiating")
    assert.strictEqual(cases.length, 4 * 5)
  })

  it.each(cases.map((c) => [c.state, c.event, c.expected ?? "refused", c] as const))(
    "link: %s × %s → %s",
    (_state, _event, _expected, { event, expected, state }) => {
      const machine = LinkState.lifecycle as StateMachine.Machine<string, string>
      const result = StateMachine.transition(machine, state, event)
      if (expected === undefined) {
        assert.isTrue(Result.isFailure(result))
        if (Result.isFailure(result)) {
          assert.deepStrictEqual(
            { tag: result.failure._tag, machine: result.failure.machine, state: result.failure.state, event: result.failure.event },
            { tag: "InvalidTransition", machine: "link", state, event }
          )
        }
      } else {
        assert.deepStrictEqual(result, Result.succeed(expected))
      }
    }
  )
})

describe("a link's state, owned by LinkState", () => {
  const fakeOpen = (scope: Scope.Closeable) => ({ scope }) as unknown as OpenLink

  it.effect("refuses a recovery before it is open, ends once, and refuses everything but end after", () =>
    Effect.gen(function*() {
      const registry = LinkState.makeRegistry()
      const linkScope = yield* Scope.make()
      const state = yield* registry.register("did:key:z6Mkpeer" as never, "c1", "answerer").pipe(Scope.provide(linkScope))
      assert.strictEqual(registry.get("did:key:z6Mkpeer", "c1"), state)
      assert.strictEqual(yield* state.phase.state, "negotiating")
      const early = yield* Effect.flip(state.recover())
      assert.deepStrictEqual([early._tag, early.state, early.event], ["InvalidTransition", "negotiating", "recover"])
      assert.strictEqual(yield* state.phase.state, "negotiating")

      yield* state.opened(fakeOpen(linkScope))
      assert.strictEqual(yield* state.phase.state, "open")
      assert.isTrue(yield* state.end)
      assert.isFalse(yield* state.end)
      assert.strictEqual(yield* state.phase.state, "ended")
      const late = yield* Effect.flip(state.recover())
      assert.deepStrictEqual([late.state, late.event], ["ended", "recover"])
      // Closing its scope ends it (already ended) and forgets it.
      yield* Scope.close(linkScope, Exit.void)
      assert.strictEqual(registry.get("did:key:z6Mkpeer", "c1"), undefined)
    }))

  it.effect("a newer recovery supersedes one under way: it closes the pending rebuild, and only the newer one settles the link", () =>
    Effect.gen(function*() {
      const linkScope = yield* Scope.make()
      const state = yield* LinkState.makeRegistry().register("did:key:z6Mkpeer" as never, "c2", "answerer").pipe(Scope.provide(linkScope))
      yield* state.opened(fakeOpen(linkScope))
      const firstRebuild = yield* Scope.fork(linkScope, "sequential")
      let firstClosed = false
      yield* Scope.addFinalizer(firstRebuild, Effect.sync(() => void (firstClosed = true)))
      const first = yield* state.recover(firstRebuild)
      assert.strictEqual(yield* state.phase.state, "recovering")
      const second = yield* state.recover()
      assert.isTrue(firstClosed)
      assert.isTrue(first.superseded())
      assert.isFalse(second.superseded())
      yield* first.abandoned
      assert.strictEqual(yield* state.phase.state, "recovering")
      yield* second.recovered
      assert.strictEqual(yield* state.phase.state, "open")
      // The link ends while a recovery is under way: settling it is refused.
      const third = yield* state.recover()
      yield* Scope.close(linkScope, Exit.void)
      assert.strictEqual(yield* state.phase.state, "ended")
      const refused = yield* Effect.flip(third.recovered)
      assert.deepStrictEqual([refused.state, refused.event], ["ended", "recovered"])
    }))
})
