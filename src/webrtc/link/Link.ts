/**
 * The link handed to callers (`PeerLink`), made once its first connection is open. It ends once:
 * on BYE from the peer, when its connection closes, or fails for good (with recovery: once
 * recovery gave up), or when its scope closes, which says BYE unless the peer said it first.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Metric, Option, PubSub, Scope, Stream, SubscriptionRef } from "effect"
import type { Signaling } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import type * as PeerConnection from "../peer/PeerConnection.ts"
import * as PeerMetrics from "../peer/PeerMetrics.ts"
import * as StateMachine from "../../machine/StateMachine.ts"
import * as LinkChannel from "./LinkChannel.ts"
import type { LinkRecovery } from "./LinkRecovery.ts"
import type { LinkState, OpenLink, Role } from "./LinkState.ts"
import type * as RecoveryEvents from "./RecoveryEvents.ts"

/** An open connection to a peer, with its control channel. */
export interface PeerLink {
  readonly remote: Did
  readonly connectionId: string
  readonly role: Role
  /** The peer connection; with recovery, the current one (a rebuild replaces it). */
  readonly peer: PeerConnection.PeerConnection
  /** The `ioap` control channel; with recovery it carries on over a rebuilt connection. */
  readonly control: LinkChannel.LinkChannel
  /** What the link's recoveries did (`IceRestarted`, `Reestablished`, `RecoveryFailed`); the last 16 are replayed. */
  readonly events: Stream.Stream<RecoveryEvents.LinkEvent>
  /**
   * Completes when the link ends: BYE from the peer, the connection closed, or failed (with
   * recovery: once recovery gave up).
   */
  readonly ended: Effect.Effect<void>
  /** Sends BYE and closes the connection; closing again does nothing. */
  readonly close: Effect.Effect<void>
}

/** What opening links needs. */
export interface LinksConfig {
  readonly signaling: Signaling["Service"]
  /** With recovery: the offerer supervises its links; a failed link waits `recoveryWindowMs` for the offerer (answerer). */
  readonly recovery: { readonly supervisor: LinkRecovery; readonly recoveryWindowMs: number } | undefined
}

/** Opening links. */
export interface Links {
  /** A link over its open first connection; its scope ends it. */
  readonly open: (state: LinkState, first: LinkChannel.Generation, linkScope: Scope.Closeable) => Effect.Effect<PeerLink, StateMachine.InvalidTransition>
  /** Sends BYE when a link's scope closes, unless the peer said BYE first. */
  readonly byeOnClose: (state: LinkState) => Effect.Effect<void, never, Scope.Scope>
}

/** Links with `config`. */
export const make = (config: LinksConfig): Links => {
  const { recovery, signaling } = config

  /**
   * Completes when the link should end: its connection closed (not replaced), or failed — without
   * recovery at once; with it, as answerer, when no recovery came within the offerer's attempts.
   * (A recovering offerer ends its link itself when it gives up.)
   */
  const watchEnd = (state: LinkState, open: OpenLink): Effect.Effect<void> =>
    Effect.gen(function*() {
      while (true) {
        const generation = yield* SubscriptionRef.get(open.current)
        const replaced = StateMachine.until(open.current, (g) => g !== generation).pipe(Effect.as("replaced" as const))
        const down = generation.peer.connection.until((s) => s === "failed" || s === "closed").pipe(
          Effect.map(Option.getOrElse(() => "closed" as const))
        )
        const event = yield* Effect.raceFirst(down, replaced)
        if (event === "replaced" || SubscriptionRef.getUnsafe(open.current) !== generation) continue
        if (event === "closed" || recovery === undefined) return
        // Failed, with recovery: wait for the connection to come back or be replaced.
        const back = Effect.raceFirst(
          generation.peer.connection.until((s) => s !== "failed"),
          replaced
        )
        if (state.role === "offerer") {
          yield* back
          continue
        }
        const recovered = yield* Effect.timeoutOption(back, recovery.recoveryWindowMs)
        if (Option.isNone(recovered)) return
      }
    })

  const open = (state: LinkState, first: LinkChannel.Generation, linkScope: Scope.Closeable): Effect.Effect<PeerLink, StateMachine.InvalidTransition> =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      // It ends once: on BYE, when the connection fails or closes, or when its scope closes. The
      // gauge is updated before `ended` completes, so whoever waits on it sees the new count.
      const end = Effect.flatMap(state.end, (now) =>
        now ? Effect.andThen(Metric.modify(PeerMetrics.activeConnections, -1), Deferred.succeed(ended, undefined)) : Effect.void)
      yield* Metric.update(PeerMetrics.connections(state.role), 1)
      yield* Metric.modify(PeerMetrics.activeConnections, 1)
      yield* Scope.addFinalizer(linkScope, end)
      const current = yield* SubscriptionRef.make(first)
      const open: OpenLink = {
        current,
        events: yield* PubSub.unbounded<RecoveryEvents.LinkEvent>({ replay: 16 }),
        scope: linkScope
      }
      yield* state.opened(open)
      const control = yield* LinkChannel.make({
        connectionId: state.connectionId,
        current,
        recovery: recovery !== undefined,
        ended: Deferred.await(ended)
      }).pipe(Scope.provide(linkScope))
      yield* Effect.raceFirst(Deferred.await(state.bye), watchEnd(state, open)).pipe(
        Effect.andThen(end),
        Effect.forkIn(linkScope)
      )
      if (recovery !== undefined && state.role === "offerer") {
        yield* Effect.forkIn(recovery.supervisor.supervise(state, open), linkScope)
      }
      return {
        remote: state.remote,
        connectionId: state.connectionId,
        role: state.role,
        get peer() {
          return SubscriptionRef.getUnsafe(current).peer
        },
        control,
        events: Stream.fromPubSub(open.events),
        ended: Deferred.await(ended),
        close: Scope.close(linkScope, Exit.void)
      } satisfies PeerLink
    })

  const byeOnClose = (state: LinkState) =>
    Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(state.bye)) return
        yield* Effect.ignore(signaling.send(state.remote, "BYE", { connection_id: state.connectionId, reason: "closed" }))
      })
    )

  return { open, byeOnClose }
}
