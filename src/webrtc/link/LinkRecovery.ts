/**
 * Recovery of a Connector's links (see `Recovery`): the offerer's supervision of its link, and the
 * answerer's handling of an OFFER on an existing connection (PROTOCOL.md 5.2: only the original
 * offerer sends one, so there is no glare). It works on the Connector's link state with the
 * Connector's own negotiation steps (`Negotiation`).
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, Exit, Metric, Option, PubSub, type Queue, Scope, SubscriptionRef } from "effect"
import type { Signal, Signaling } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import * as WebRtc from "../../protocol/WebRtc.ts"
import type { ConnectError } from "./Connector.ts"
import type * as LinkChannel from "./LinkChannel.ts"
import type * as PeerConnection from "../peer/PeerConnection.ts"
import * as PeerMetrics from "../peer/PeerMetrics.ts"
import * as Recovery from "./Recovery.ts"
import type { Transport } from "../peer/Transport.ts"
import * as StateMachine from "../../machine/StateMachine.ts"

/** The certificate fingerprint an SDP announces, as one comparable string (none if it cannot be read). */
const fingerprintOf = (sdp: string): Effect.Effect<Option.Option<string>> =>
  Effect.option(Effect.map(WebRtc.parseSdp(sdp), ({ fingerprint }) => `${fingerprint.algorithm} ${fingerprint.value}`))

/** A connection as the Connector keeps it, keyed by (remote DID, connection id). */
export interface LinkState {
  readonly remote: Did
  readonly role: "offerer" | "answerer"
  readonly answers: Queue.Queue<Signal<"ANSWER">>
  readonly failure: Deferred.Deferred<never, ConnectError>
  readonly bye: Deferred.Deferred<Signal<"BYE">>
  readonly candidates: Array<PeerConnection.IceCandidate>
  peer: PeerConnection.PeerConnection | undefined
  /** Local candidates are sent once this completes: not before the description they belong to. */
  gate: Deferred.Deferred<void>
  /** Remote candidates wait in `candidates` while a new remote description is being applied. */
  holding: boolean
  /** Once the link is open. */
  open: OpenLink | undefined
}

/** An open link's generations (see `LinkChannel`) and events. */
export interface OpenLink {
  readonly current: SubscriptionRef.SubscriptionRef<LinkChannel.Generation>
  readonly events: PubSub.PubSub<Recovery.LinkEvent>
  readonly scope: Scope.Closeable
  /** A rebuild being answered, not open yet: a newer OFFER supersedes it. */
  pending: Scope.Closeable | undefined
}

/** A failure of a negotiation step (every error of the stack, signaling and Connector has these). */
interface StepFailure {
  readonly _tag: string
  readonly message: string
}

/** What recovery needs from its Connector. */
export interface Negotiation {
  readonly signaling: Signaling["Service"]
  readonly transport: Transport["Service"]
  /** Attempts before the offerer gives a link up, and the deadline of each. */
  readonly attempts: number
  readonly attemptTimeoutMs: number
  /** The ANSWER to our OFFER `offerId`. */
  readonly answerTo: (state: LinkState, offerId: string) => Effect.Effect<Signal<"ANSWER">, StepFailure>
  /** A new connection offered on the link's connection id, until open, in a child scope of `linkScope`. */
  readonly offerGeneration: (
    state: LinkState,
    connectionId: string,
    number: number,
    linkScope: Scope.Closeable
  ) => Effect.Effect<LinkChannel.Generation, StepFailure>
  /** A new connection answering `offer`, until open, in `scope`. */
  readonly answerGeneration: (
    state: LinkState,
    offer: Signal<"OFFER">,
    number: number,
    scope: Scope.Closeable,
    retry: boolean
  ) => Effect.Effect<LinkChannel.Generation, StepFailure>
  /** Applies the remote candidates held while a description was being applied. */
  readonly releaseHeld: (state: LinkState) => Effect.Effect<void>
}

/** The offerer's supervision of a link, and the answerer's side of an OFFER on an existing connection. */
export const make = (negotiation: Negotiation) => {
  const { answerGeneration, answerTo, attemptTimeoutMs, attempts, offerGeneration, releaseHeld, signaling, transport } = negotiation

  /** Publishes a link event and counts it. */
  const report = (open: OpenLink, event: Recovery.LinkEvent) =>
    Effect.andThen(
      PubSub.publish(open.events, event),
      Metric.update(PeerMetrics.recoveries(event._tag === "IceRestarted" ? "ice_restart" : event._tag === "Reestablished" ? "rebuild" : "failed"), 1)
    )

  /** Makes `next` the link's connection and closes the one it replaces. */
  const replace = (open: OpenLink, next: LinkChannel.Generation) =>
    Effect.flatMap(SubscriptionRef.getAndSet(open.current, next), (old) => Scope.close(old.scope, Exit.void))

  /** A failed connection that is being restarted is `connecting` again (a legal transition). */
  const reconnecting = (peer: PeerConnection.PeerConnection) =>
    Effect.flatMap(SubscriptionRef.get(peer.connection.state), (s) => s === "failed" ? Effect.ignore(peer.connection.apply("connecting")) : Effect.void)

  /** The offerer restarts ICE on the current connection, until it is `connected` again. */
  const restartIce = (state: LinkState, connectionId: string, generation: LinkChannel.Generation) =>
    Effect.gen(function*() {
      const peer = generation.peer
      const gate = yield* Deferred.make<void>()
      state.gate = gate
      state.holding = true
      yield* Effect.gen(function*() {
        yield* reconnecting(peer)
        const sdp = yield* peer.createRestartOffer
        const offerId = yield* signaling.send(state.remote, "OFFER", { connection_id: connectionId, sdp })
        yield* Deferred.succeed(gate, undefined)
        const answer = yield* answerTo(state, offerId)
        yield* peer.acceptAnswer(answer.payload.sdp)
        yield* peer.startRestartedIce
        yield* releaseHeld(state)
        yield* StateMachine.until(peer.connection.state, (s) => s === "connected")
      }).pipe(
        Effect.onError(() =>
          Effect.gen(function*() {
            // The restart's offer is abandoned: back to `stable` for the next attempt.
            if ((yield* SubscriptionRef.get(peer.signaling.state)) === "have-local-offer") yield* Effect.ignore(peer.rollback)
          })),
        Effect.ensuring(Effect.andThen(Deferred.succeed(gate, undefined), releaseHeld(state)))
      )
    })

  /** The offerer builds a new connection under the link (same connection id) and makes it current. */
  const rebuild = (state: LinkState, connectionId: string, open: OpenLink, generation: LinkChannel.Generation) =>
    offerGeneration(state, connectionId, generation.number + 1, open.scope).pipe(
      Effect.tap((next) => replace(open, next)),
      Effect.onError(() => Effect.sync(() => void (state.peer = SubscriptionRef.getUnsafe(open.current).peer)))
    )

  /**
   * The offerer's side: whenever the current connection goes `disconnected` or `failed`, restart
   * ICE (where the stack can, first) or rebuild it, attempt after attempt; when all fail the link
   * ends (its scope closes: BYE).
   */
  const superviseRecovery = (state: LinkState, connectionId: string, open: OpenLink): Effect.Effect<void> =>
    Effect.gen(function*() {
      while (true) {
        const generation = yield* SubscriptionRef.get(open.current)
        const down = yield* StateMachine.until(generation.peer.connection.state, (s) => s === "disconnected" || s === "failed" || s === "closed")
        if (SubscriptionRef.getUnsafe(open.current) !== generation) continue
        if (Option.getOrElse(down, () => "closed") === "closed") return
        const started = yield* Clock.currentTimeMillis
        const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - started)
        let recovered = false
        let reason = ""
        for (let attempt = 1; attempt <= attempts && !recovered; attempt++) {
          const restart = transport.supportsIceRestart && attempt === 1
          const result = yield* Effect.result(
            (restart ? Effect.asVoid(restartIce(state, connectionId, generation)) : Effect.asVoid(rebuild(state, connectionId, open, generation))).pipe(
              Effect.timeoutOrElse({
                duration: attemptTimeoutMs,
                orElse: () => Effect.fail(new Recovery.AttemptTimeout({ connectionId, timeoutMs: attemptTimeoutMs }))
              })
            )
          )
          if (result._tag === "Success") {
            recovered = true
            const elapsedMs = yield* elapsed
            yield* report(open, restart
              ? new Recovery.IceRestarted({ connectionId, role: "offerer", elapsedMs })
              : new Recovery.Reestablished({ connectionId, role: "offerer", generation: generation.number + 1, elapsedMs }))
          } else {
            reason = `${result.failure._tag}: ${result.failure.message}`
            yield* Effect.logWarning(`link recovery attempt ${attempt} (${restart ? "ICE restart" : "rebuild"}) failed`, reason)
          }
        }
        if (!recovered) {
          yield* report(open, new Recovery.RecoveryFailed({ connectionId, attempts: attempts, reason }))
          return yield* Scope.close(open.scope, Exit.void)
        }
      }
    })

  /** The answerer's side of an ICE restart: apply the OFFER to the current connection and answer. */
  const answerRestart = (state: LinkState, offer: Signal<"OFFER">, open: OpenLink, generation: LinkChannel.Generation, gate: Deferred.Deferred<void>) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const peer = generation.peer
      yield* Effect.gen(function*() {
        yield* reconnecting(peer)
        yield* peer.acceptOffer(offer.payload.sdp)
        yield* releaseHeld(state)
        const sdp = yield* peer.createAnswer
        yield* peer.startRestartedIce
        yield* signaling.send(state.remote, "ANSWER", { connection_id: offer.connectionId, sdp }, offer.id)
      }).pipe(Effect.ensuring(Effect.andThen(Deferred.succeed(gate, undefined), releaseHeld(state))))
      const elapsedMs = (yield* Clock.currentTimeMillis) - started
      yield* report(open, new Recovery.IceRestarted({ connectionId: offer.connectionId, role: "answerer", elapsedMs }))
    })

  /** The answerer's side of a rebuild: a new connection answering the OFFER replaces the current one once open. */
  const answerRebuild = (state: LinkState, offer: Signal<"OFFER">, open: OpenLink, scope: Scope.Closeable) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const number = SubscriptionRef.getUnsafe(open.current).number + 1
      const next = yield* answerGeneration(state, offer, number, scope, false).pipe(
        Effect.onError(() => Effect.sync(() => {
          if (open.pending === scope) state.peer = SubscriptionRef.getUnsafe(open.current).peer
        }))
      )
      if (open.pending === scope) open.pending = undefined
      yield* replace(open, next)
      const elapsedMs = (yield* Clock.currentTimeMillis) - started
      yield* report(open, new Recovery.Reestablished({ connectionId: offer.connectionId, role: "answerer", generation: number, elapsedMs }))
    })

  /**
   * An OFFER for a connection we know. From its original offerer, on an open link: an ICE restart
   * (the current connection's certificate fingerprint: each peer connection has its own
   * certificate) or a rebuild (another one). From the other side it is refused
   * (PROTOCOL.md 5.2: only the offerer restarts, so there is no glare), and counted.
   */
  const onRenegotiation = (state: LinkState, offer: Signal<"OFFER">) =>
    Effect.gen(function*() {
      if (state.role !== "answerer") {
        yield* Metric.update(PeerMetrics.offersRefused("not_offerer"), 1)
        return yield* Effect.logWarning("refused an OFFER for an existing connection from the side that did not offer it")
      }
      const open = state.open
      if (open === undefined) {
        yield* Metric.update(PeerMetrics.offersRefused("not_open"), 1)
        return yield* Effect.logWarning("ignored an OFFER for a connection that is not open yet")
      }
      const generation = yield* SubscriptionRef.get(open.current)
      const known = yield* Effect.flatMap(Effect.option(generation.peer.remoteSdp), Option.match({ onNone: () => Effect.succeedNone, onSome: fingerprintOf }))
      const offered = yield* fingerprintOf(offer.payload.sdp)
      if (Option.isSome(offered) && Option.contains(known, offered.value)) {
        if (!transport.supportsIceRestart) {
          yield* Metric.update(PeerMetrics.offersRefused("unsupported"), 1)
          return yield* Effect.logWarning("ignored an ICE restart this stack cannot do (the offerer will rebuild)")
        }
        // Set before the candidates that follow the OFFER are handled.
        const gate = yield* Deferred.make<void>()
        state.gate = gate
        state.holding = true
        return yield* answerRestart(state, offer, open, generation, gate).pipe(
          Effect.catchCause((cause) => Effect.logWarning("could not answer an ICE restart", cause)),
          Effect.forkIn(open.scope),
          Effect.asVoid
        )
      }
      // A rebuild: a newer OFFER supersedes one still being answered.
      if (open.pending !== undefined) yield* Scope.close(open.pending, Exit.void)
      const scope = yield* Scope.fork(open.scope, "sequential")
      open.pending = scope
      state.peer = undefined
      yield* answerRebuild(state, offer, open, scope).pipe(
        Effect.catchCause((cause) => Effect.logWarning("could not answer a rebuild of a connection", cause)),
        Effect.forkIn(open.scope)
      )
    })

  return { superviseRecovery, onRenegotiation }
}
