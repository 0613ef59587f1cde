/**
 * Table tests of state machines against a specification written out independently of the
 * implementation's table: for each state, the events allowed and where they lead, as
 * "event>next" pairs ("." = stays). Every other state × event pair must be refused.
 */
import { assert } from "@effect/vitest"
import { Result } from "effect"
import * as StateMachine from "../../src/machine/StateMachine.ts"

/** One state × event pair and what the specification expects (`undefined`: refused). */
export interface Case<S extends string, E extends string> {
  readonly state: S
  readonly event: E
  readonly expected: string | undefined
}

/** Every state × event pair of `machine`, with what `spec` expects of it. */
export const cases = <S extends string, E extends string>(
  machine: StateMachine.Machine<S, E>,
  spec: Readonly<Record<S, string>>
): ReadonlyArray<Case<S, E>> =>
  machine.states.flatMap((state) => {
    const allowed = new Map(spec[state].split(" ").filter((pair) => pair !== "").map((pair) => {
      const [event, next] = pair.split(">") as [string, string]
      return [event, next === "." ? state : next] as const
    }))
    return machine.events.map((event) => ({ state, event, expected: allowed.get(event) }))
  })

/** Asserts that `machine` does what the case expects: the next state, or a typed refusal naming machine, state and event. */
export const assertCase = <S extends string, E extends string>(machine: StateMachine.Machine<S, E>, { event, expected, state }: Case<S, E>) => {
  const result = StateMachine.transition(machine, state, event)
  if (expected === undefined) {
    assert.isTrue(Result.isFailure(result))
    if (Result.isFailure(result)) {
      assert.strictEqual(result.failure._tag, "InvalidTransition")
      assert.deepStrictEqual(
        { machine: result.failure.machine, state: result.failure.state, event: result.failure.event },
        { machine: machine.name, state, event }
      )
    }
  } else {
    assert.deepStrictEqual(Result.map(result, String), Result.succeed(expected))
  }
}
