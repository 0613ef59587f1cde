/**
 * A connection as the Connector keeps it, keyed by (remote DID, connection id): where its signals
 * arrive, its candidates (`Trickle`), and its lifecycle, a state machine this module alone applies
 * events to:
 *
 *   negotiating ──opened──▶ open ──recover──▶ recovering ──recovered / abandoned──▶ open
 *        │                   │                    │  ▲ recover (a newer OFFER supersedes)
 *        └───────end─────────┴────────end─────────┴──┴──▶ ended (final; ending again does nothing more)
 *
 * `recovering` is an ICE restart or rebuild under way: the offerer's attempts, or the answerer
 * answering one (see `LinkRecovery`). A link whose scope closes is `ended`, whatever its state.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, type PubSub, Queue, Scope, type SubscriptionRef } from "effect"
import type { Signal } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import * as StateMachine from "../../machine/StateMachine.ts"
import type { ConnectError } from "./ConnectErrors.ts"
import type * as LinkChannel from "./LinkChannel.ts"
import type * as RecoveryEvents from "./RecoveryEvents.ts"
import * as Trickle from "./Trickle.ts"

// ---------------------------------------------------------------------------
// The lifecycle
// ---------------------------------------------------------------------------

/** Where a link is in its life. */
export type Phase = "negotiating" | "open" | "recovering" | "ended"

/** What moves a link. */
export type PhaseEvent = "opened" | "recover" | "recovered" | "abandoned" | "end"

/** The link's lifecycle. */
export const lifecycle: StateMachine.Machine<Phase, PhaseEvent> = {
  name: "link",
  initial: "negotiating",
  states: ["negotiating", "open", "recovering", "ended"],
  events: ["opened", "recover", "recovered", "abandoned", "end"],
  table: {
    negotiating: { opened: "open", end: "ended" },
    open: { recover: "recovering", end: "ended" },
    recovering: { recover: "recovering", recovered: "open", abandoned: "open", end: "ended" },
    ended: { end: "ended" }
  }
}

// ---------------------------------------------------------------------------
// A connection
// ---------------------------------------------------------------------------

/** Which side of the link this agent is: the offerer negotiated it and is the one that recovers it. */
export type Role = "offerer" | "answerer"

/** An open link's generations (see `LinkChannel`), events and scope. */
export interface OpenLink {
  readonly current: SubscriptionRef.SubscriptionRef<LinkChannel.Generation>
  readonly events: PubSub.PubSub<RecoveryEvents.LinkEvent>
  readonly scope: Scope.Closeable
}

/** One recovery of an open link, from `LinkState.recover`. */
export interface Recovering {
  /** Whether a newer recovery superseded this one (then settling it changes nothing: the newer one settles the link). */
  readonly superseded: () => boolean
  /** The link works again: `open`. */
  readonly recovered: Effect.Effect<void, StateMachine.InvalidTransition>
  /** This recovery failed; the link carries on with its current connection: `open`. */
  readonly abandoned: Effect.Effect<void, StateMachine.InvalidTransition>
}

/** One connection of the Connector. */
export interface LinkState {
  readonly remote: Did
  readonly connectionId: string
  readonly role: Role
  /** ANSWERs on this connection (the offerer's). */
  readonly answers: Queue.Queue<Signal<"ANSWER">>
  /** Fails when a signal of ours was not delivered. */
  readonly failure: Deferred.Deferred<never, ConnectError>
  /** Completes when the peer says BYE. */
  readonly bye: Deferred.Deferred<Signal<"BYE">>
  readonly trickle: Trickle.Trickle
  /** The lifecycle, read-only. */
  readonly phase: StateMachine.MachineView<Phase>
  /** The first connection is open. */
  readonly opened: (open: OpenLink) => Effect.Effect<void, StateMachine.InvalidTransition>
  /** The open link, once `opened`. */
  readonly link: () => OpenLink | undefined
  /**
   * A recovery begins (only on an open or recovering link). `pending` is the scope of a rebuild
   * being answered: the next recovery closes it, since a newer OFFER supersedes it.
   */
  readonly recover: (pending?: Scope.Closeable) => Effect.Effect<Recovering, StateMachine.InvalidTransition>
  /** Ends the link; true only for the call that ended it. */
  readonly end: Effect.Effect<boolean>
}

/** The Connector's connections. */
export interface Registry {
  /** A new connection, known until the scope closes (so signals that follow its OFFER find it); it ends with the scope. */
  readonly register: (remote: Did, connectionId: string, role: Role) => Effect.Effect<LinkState, never, Scope.Scope>
  readonly get: (remote: string, connectionId: string) => LinkState | undefined
}

/** A connection in `negotiating`. */
const make = (remote: Did, connectionId: string, role: Role): Effect.Effect<LinkState> =>
  Effect.gen(function*() {
    const machine = yield* StateMachine.makeRef(lifecycle)
    // Set with `opened`; the latest recovery and the rebuild it may be answering.
    let open: OpenLink | undefined
    let latest = 0
    let pending: Scope.Closeable | undefined
    const settle = (ticket: number, event: "recovered" | "abandoned") =>
      Effect.suspend(() => {
        if (ticket !== latest) return Effect.void
        pending = undefined
        return Effect.asVoid(machine.apply(event))
      })
    return {
      remote,
      connectionId,
      role,
      answers: yield* Queue.unbounded<Signal<"ANSWER">>(),
      failure: yield* Deferred.make<never, ConnectError>(),
      bye: yield* Deferred.make<Signal<"BYE">>(),
      trickle: yield* Trickle.make,
      phase: StateMachine.view(machine),
      // Set first: a link that can recover has it (`opened` fails only on an ended link, which cannot).
      opened: (link) => Effect.suspend(() => {
        open = link
        return Effect.asVoid(machine.apply("opened"))
      }),
      link: () => open,
      recover: (next) =>
        Effect.gen(function*() {
          yield* machine.apply("recover")
          const ticket = ++latest
          const previous = pending
          pending = next
          if (previous !== undefined) yield* Scope.close(previous, Exit.void)
          return {
            superseded: () => ticket !== latest,
            recovered: settle(ticket, "recovered"),
            abandoned: settle(ticket, "abandoned")
          }
        }),
      end: StateMachine.step(machine, "end").pipe(
        Effect.map(({ from }) => from !== "ended"),
        // The table allows `end` in every state; were it changed, the refusal is logged, not lost.
        Effect.catchTag("InvalidTransition", (error) => Effect.as(Effect.logError("link: could not end", error.message), false))
      )
    } satisfies LinkState
  })

const keyOf = (remote: string, connectionId: string) => `${remote} ${connectionId}`

/** An empty registry. */
export const makeRegistry = (): Registry => {
  const links = new Map<string, LinkState>()
  return {
    register: (remote, connectionId, role) =>
      Effect.acquireRelease(
        Effect.tap(make(remote, connectionId, role), (state) => Effect.sync(() => links.set(keyOf(remote, connectionId), state))),
        (state) => Effect.andThen(state.end, Effect.sync(() => links.delete(keyOf(remote, connectionId))))
      ),
    get: (remote, connectionId) => links.get(keyOf(remote, connectionId))
  }
}
