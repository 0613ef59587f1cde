/**
 * Table-driven state machines: every lifecycle with states (peer connection, ICE, signaling, link,
 * gateway client, gateway session) is one of these.
 *
 * A machine is a table `state × event → next state`; `transition` answers the next state or a
 * typed `InvalidTransition` naming machine, state and event. `MachineRef` holds a machine's state
 * in a `SubscriptionRef`, so its `changes` are a Stream.
 *
 * @since 0.1.0
 */
import { Effect, type Option, Result, Schema, Stream, SubscriptionRef } from "effect"

/** The first value of `ref`, now or later, that satisfies `predicate` (none if its changes end first). */
export const until: {
  <A, B extends A>(ref: SubscriptionRef.SubscriptionRef<A>, predicate: (a: A) => a is B): Effect.Effect<Option.Option<B>>
  <A>(ref: SubscriptionRef.SubscriptionRef<A>, predicate: (a: A) => boolean): Effect.Effect<Option.Option<A>>
} = <A>(ref: SubscriptionRef.SubscriptionRef<A>, predicate: (a: A) => boolean) =>
  SubscriptionRef.changes(ref).pipe(Stream.filter(predicate), Stream.runHead)

/** An event the machine does not allow in its current state. */
export class InvalidTransition extends Schema.TaggedError<InvalidTransition>()("InvalidTransition", {
  machine: Schema.String,
  state: Schema.String,
  event: Schema.String
}) {
  override get message() {
    return `${this.machine}: "${this.event}" is not allowed in state "${this.state}"`
  }
}

/** A state machine: its name, initial state and transition table. */
export interface Machine<S extends string, E extends string> {
  readonly name: string
  readonly initial: S
  readonly states: ReadonlyArray<S>
  readonly events: ReadonlyArray<E>
  readonly table: { readonly [K in S]: { readonly [V in E]?: S } }
}

/** The next state, or why there is none. */
export const transition = <S extends string, E extends string>(
  machine: Machine<S, E>,
  state: S,
  event: E
): Result.Result<S, InvalidTransition> => {
  const next = machine.table[state][event]
  return next === undefined
    ? Result.fail(new InvalidTransition({ machine: machine.name, state, event }))
    : Result.succeed(next)
}

/** Whether `event` is allowed in `state`. */
export const allows = <S extends string, E extends string>(machine: Machine<S, E>, state: S, event: E): boolean =>
  machine.table[state][event] !== undefined

// ---------------------------------------------------------------------------
// Ref-backed machines
// ---------------------------------------------------------------------------

/** A machine's current state in a `SubscriptionRef`; transitions are checked. */
export interface MachineRef<S extends string, E extends string> {
  readonly machine: Machine<S, E>
  readonly state: SubscriptionRef.SubscriptionRef<S>
  /** Applies an event: the new state, or `InvalidTransition` (the state is left as it was). */
  readonly apply: (event: E) => Effect.Effect<S, InvalidTransition>
  /** Fails with `InvalidTransition` unless `event` is allowed now; changes nothing. */
  readonly check: (event: E) => Effect.Effect<void, InvalidTransition>
}

/** A machine in its initial state. */
export const makeRef = <S extends string, E extends string>(machine: Machine<S, E>): Effect.Effect<MachineRef<S, E>> =>
  Effect.map(SubscriptionRef.make(machine.initial), (state) => ({
    machine,
    state,
    apply: (event) =>
      SubscriptionRef.modifyEffect(state, (current) =>
        Result.match(transition(machine, current, event), {
          onFailure: (error) => Effect.fail(error),
          onSuccess: (next) => Effect.succeed([next, next] as const)
        })),
    check: (event) =>
      Effect.flatMap(SubscriptionRef.get(state), (current) =>
        Result.match(transition(machine, current, event), {
          onFailure: (error) => Effect.fail(error),
          onSuccess: () => Effect.void
        }))
  }))

// ---------------------------------------------------------------------------
// For owners and watchers
// ---------------------------------------------------------------------------

/** Applies `event` like `MachineRef.apply`, answering the states before and after it (for an owner that acts only on a real change). */
export const step = <S extends string, E extends string>(
  ref: MachineRef<S, E>,
  event: E
): Effect.Effect<{ readonly from: S; readonly to: S }, InvalidTransition> =>
  SubscriptionRef.modifyEffect(ref.state, (from) =>
    Result.match(transition(ref.machine, from, event), {
      onFailure: (error) => Effect.fail(error),
      onSuccess: (to) => Effect.succeed([{ from, to }, to] as const)
    }))

/** A machine's state for those that watch it: read, follow and wait for it, but never apply an event (only its owner does). */
export interface MachineView<S extends string> {
  readonly name: string
  /** The current state. */
  readonly state: Effect.Effect<S>
  /** The current state, read synchronously (for hot paths). */
  readonly stateUnsafe: () => S
  /** The current state, then each change. */
  readonly changes: Stream.Stream<S>
  /** The first state, now or later, that satisfies `predicate` (none if the changes end first). */
  readonly until: (predicate: (state: S) => boolean) => Effect.Effect<Option.Option<S>>
}

/** The read-only view of `ref`. */
export const view = <S extends string, E extends string>(ref: MachineRef<S, E>): MachineView<S> => ({
  name: ref.machine.name,
  state: SubscriptionRef.get(ref.state),
  stateUnsafe: () => SubscriptionRef.getUnsafe(ref.state),
  changes: SubscriptionRef.changes(ref.state),
  until: (predicate) => until(ref.state, predicate)
})
