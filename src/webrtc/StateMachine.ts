/**
 * The lifecycles of a peer connection as pure state machines: the connection state, the ICE
 * connection state and the signaling state (W3C WebRTC).
 *
 * A machine is a table `state × event → next state`; `transition` answers the next state or a
 * typed `InvalidTransition` naming machine, state and event. `MachineRef` holds a machine's state
 * in a `SubscriptionRef`, so its `changes` are a Stream.
 *
 * @since 0.1.0
 */
import { Effect, type Option, Result, Schema, Stream, SubscriptionRef } from "effect"
import type { ConnectionState, IceConnectionState } from "../protocol/WebRtc.ts"

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
// Connection state (RTCPeerConnectionState): events are the states the stack reports.
// ---------------------------------------------------------------------------

/** Reported connection states; `closed` is also what `close()` does. */
export type ConnectionEvent = Exclude<ConnectionState, "new">

/** RTCPeerConnectionState. `closed` is final; ICE restart may take `failed` back to `connecting`. */
export const connection: Machine<ConnectionState, ConnectionEvent> = {
  name: "connection",
  initial: "new",
  states: ["new", "connecting", "connected", "disconnected", "failed", "closed"],
  events: ["connecting", "connected", "disconnected", "failed", "closed"],
  table: {
    new: { connecting: "connecting", connected: "connected", failed: "failed", closed: "closed" },
    connecting: { connecting: "connecting", connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    connected: { connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    disconnected: { connecting: "connecting", connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    failed: { connecting: "connecting", failed: "failed", closed: "closed" },
    // Stacks report "closed" again after close(): the same state, nothing more.
    closed: { closed: "closed" }
  }
}

// ---------------------------------------------------------------------------
// ICE connection state (RTCIceConnectionState)
// ---------------------------------------------------------------------------

/** Reported ICE connection states. */
export type IceEvent = Exclude<IceConnectionState, "new">

/** RTCIceConnectionState. `closed` is final; an ICE restart goes back to `checking`. */
export const ice: Machine<IceConnectionState, IceEvent> = {
  name: "ice",
  initial: "new",
  states: ["new", "checking", "connected", "completed", "failed", "disconnected", "closed"],
  events: ["checking", "connected", "completed", "failed", "disconnected", "closed"],
  table: {
    new: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", closed: "closed" },
    checking: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    connected: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    completed: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    failed: { checking: "checking", failed: "failed", closed: "closed" },
    disconnected: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    closed: { closed: "closed" }
  }
}

// ---------------------------------------------------------------------------
// Signaling state (RTCSignalingState): events are our operations.
// ---------------------------------------------------------------------------

/** Signaling states, plus `closed` once the connection is closed. */
export type SignalingMachineState = "stable" | "have-local-offer" | "have-remote-offer" | "closed"

/** Operations that move the signaling state. */
export type SignalingEvent =
  | "setLocalOffer"
  | "setRemoteOffer"
  | "setLocalAnswer"
  | "setRemoteAnswer"
  | "rollback"
  | "close"

/** RTCSignalingState. One offer at a time: a second offer while one is pending is refused. */
export const signaling: Machine<SignalingMachineState, SignalingEvent> = {
  name: "signaling",
  initial: "stable",
  states: ["stable", "have-local-offer", "have-remote-offer", "closed"],
  events: ["setLocalOffer", "setRemoteOffer", "setLocalAnswer", "setRemoteAnswer", "rollback", "close"],
  table: {
    stable: { setLocalOffer: "have-local-offer", setRemoteOffer: "have-remote-offer", close: "closed" },
    "have-local-offer": { setRemoteAnswer: "stable", rollback: "stable", close: "closed" },
    "have-remote-offer": { setLocalAnswer: "stable", rollback: "stable", close: "closed" },
    closed: {}
  }
}

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
