/**
 * Recovering a link whose network path broke (PROTOCOL.md 5.2): the offerer's supervision of its
 * link, and the answerer's handling of an OFFER on an existing connection. What it reports is in
 * `RecoveryEvents`.
 *
 * Only the original offerer starts a recovery (so there is no glare): an OFFER on the existing
 * connection id. Where the stack can restart ICE (werift) that OFFER restarts ICE on the same peer
 * connection, and the DTLS and SCTP associations carry on: nothing sent is lost. Where it cannot
 * (node-datachannel: no `restartIce`, no rollback) the offerer builds a new peer connection under
 * the same link and connection id; its OFFER carries the new connection's certificate
 * fingerprint, by which the answerer knows to build one too (the `o=` session id would tell the
 * same by RFC 8829, but werift 0.25 changes it in every offer). The link then
 * reports `Reestablished`, its control channel
 * carries on over the new connection, and sends the rebuild overtook fail with
 * `ConnectionReestablished` instead of vanishing.
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, Exit, Metric, Option, PubSub, Scope, SubscriptionRef } from "effect"
import type { Signal, Signaling } from "../../client/Signaling.ts"
import * as Sdp from "../../protocol/Sdp.ts"
import * as PeerMetrics from "../peer/PeerMetrics.ts"
import type { Transport } from "../peer/Transport.ts"
import type * as LinkChannel from "./LinkChannel.ts"
import type { LinkState, OpenLink, Recovering } from "./LinkState.ts"
import type { Negotiation } from "./Negotiation.ts"
import * as RecoveryEvents from "./RecoveryEvents.ts"

/** The certificate fingerprint an SDP announces, as one comparable string (none if it cannot be read). */
const fingerprintOf = (sdp: string): Effect.Effect<Option.Option<string>> =>
  Effect.option(Effect.map(Sdp.parseSdp(sdp), ({ fingerprint }) => `${fingerprint.algorithm} ${fingerprint.value}`))

/** How a Connector recovers links. */
export interface RecoveryOptions {
  /** Recovery attempts before the link is given up (default 3). */
  readonly attempts?: number
  /** Deadline of one attempt (default 10 s). */
  readonly attemptTimeoutMs?: number
}

/** What recovering needs. */
export interface LinkRecoveryConfig {
  readonly negotiation: Negotiation
  readonly signaling: Signaling["Service"]
  readonly transport: Transport["Service"]
  /** Attempts before the offerer gives a link up, and the deadline of each. */
  readonly attempts: number
  readonly attemptTimeoutMs: number
}

/** The recovery of links. */
export interface LinkRecovery {
  /**
   * The offerer's side: whenever the current connection goes `disconnected` or `failed`, restart
   * ICE (where the stack can, first) or rebuild it, attempt after attempt; when all fail the link
   * ends (its scope closes: BYE).
   */
  readonly supervise: (state: LinkState, open: OpenLink) => Effect.Effect<void>
  /** The answerer's side: an OFFER for a connection we know. */
  readonly onRenegotiation: (state: LinkState, offer: Signal<"OFFER">) => Effect.Effect<void>
}

/** The offerer's supervision of a link, and the answerer's side of an OFFER on an existing connection. */
export const make = (config: LinkRecoveryConfig): LinkRecovery => {
  const { attemptTimeoutMs, attempts, signaling, transport } = config
  const { acceptedCandidates, answerGeneration, answerTo, offerGeneration } = config.negotiation

  /** Publishes a link event and counts it. */
  const report = (open: OpenLink, event: RecoveryEvents.LinkEvent) =>
    Effect.andThen(
      PubSub.publish(open.events, event),
      Metric.update(PeerMetrics.recoveries(event._tag === "IceRestarted" ? "ice_restart" : event._tag === "Reestablished" ? "rebuild" : "failed"), 1)
    )

  /** Makes `next` the link's connection and closes the one it replaces. */
  const replace = (open: OpenLink, next: LinkChannel.Generation) =>
    Effect.flatMap(SubscriptionRef.getAndSet(open.current, next), (old) => Scope.close(old.scope, Exit.void))

  /** The offerer restarts ICE on the current connection, until it is `connected` again. */
  const restartIce = (state: LinkState, generation: LinkChannel.Generation) =>
    Effect.gen(function*() {
      const peer = generation.peer
      const gate = yield* Deferred.make<void>()
      yield* state.trickle.hold(gate)
      yield* Effect.gen(function*() {
        const sdp = yield* peer.createRestartOffer
        const offerId = yield* signaling.send(state.remote, "OFFER", { connection_id: state.connectionId, sdp })
        yield* Deferred.succeed(gate, undefined)
        const answer = yield* answerTo(state, offerId)
        yield* peer.acceptAnswer(acceptedCandidates(answer.payload.sdp))
        yield* peer.startRestartedIce
        yield* state.trickle.release
        yield* peer.connection.until((s) => s === "connected")
      }).pipe(
        Effect.onError(() =>
          Effect.gen(function*() {
            // The restart's offer is abandoned: back to `stable` for the next attempt.
            if ((yield* peer.signaling.state) !== "have-local-offer") return
            yield* peer.rollback.pipe(Effect.catch((error) => Effect.logWarning("could not roll back an abandoned ICE restart offer", error.message)))
          })),
        Effect.ensuring(Effect.andThen(Deferred.succeed(gate, undefined), state.trickle.release))
      )
    })

  /** The offerer builds a new connection under the link (same connection id) and makes it current. */
  const rebuild = (state: LinkState, open: OpenLink, generation: LinkChannel.Generation) =>
    offerGeneration(state, generation.number + 1, open.scope).pipe(
      Effect.tap((next) => replace(open, next)),
      Effect.onError(() => state.trickle.retarget(SubscriptionRef.getUnsafe(open.current).peer))
    )

  /** See `LinkRecovery.supervise`; each down connection is one recovery of the link (`LinkState.recover`). */
  const supervise = (state: LinkState, open: OpenLink): Effect.Effect<void> =>
    Effect.gen(function*() {
      const connectionId = state.connectionId
      while (true) {
        const generation = yield* SubscriptionRef.get(open.current)
        const down = yield* generation.peer.connection.until((s) => s === "disconnected" || s === "failed" || s === "closed")
        if (SubscriptionRef.getUnsafe(open.current) !== generation) continue
        if (Option.getOrElse(down, () => "closed") === "closed") return
        // Refused once the link has ended (its peer said BYE): nothing left to recover.
        const recovering = yield* Effect.result(state.recover())
        if (recovering._tag === "Failure") return yield* Effect.logDebug("link recovery not started", recovering.failure.message)
        const started = yield* Clock.currentTimeMillis
        const elapsed = Effect.map(Clock.currentTimeMillis, (now) => now - started)
        let recovered = false
        let reason = ""
        for (let attempt = 1; attempt <= attempts && !recovered; attempt++) {
          const restart = transport.supportsIceRestart && attempt === 1
          const result = yield* Effect.result(
            (restart ? Effect.asVoid(restartIce(state, generation)) : Effect.asVoid(rebuild(state, open, generation))).pipe(
              Effect.timeoutOrElse({
                duration: attemptTimeoutMs,
                orElse: () => Effect.fail(new RecoveryEvents.AttemptTimeout({ connectionId, timeoutMs: attemptTimeoutMs }))
              })
            )
          )
          if (result._tag === "Success") {
            recovered = true
            yield* recovering.success.recovered
            const elapsedMs = yield* elapsed
            yield* report(open, restart
              ? new RecoveryEvents.IceRestarted({ connectionId, role: "offerer", elapsedMs })
              : new RecoveryEvents.Reestablished({ connectionId, role: "offerer", generation: generation.number + 1, elapsedMs }))
          } else {
            reason = `${result.failure._tag}: ${result.failure.message}`
            yield* Effect.logWarning(`link recovery attempt ${attempt} (${restart ? "ICE restart" : "rebuild"}) failed`, reason)
          }
        }
        if (!recovered) {
          yield* report(open, new RecoveryEvents.RecoveryFailed({ connectionId, attempts: attempts, reason }))
          return yield* Scope.close(open.scope, Exit.void)
        }
      }
    }).pipe(Effect.catchTag("InvalidTransition", (error) => Effect.logDebug("the link ended during its recovery", error.message)))

  /** The answerer's side of an ICE restart: apply the OFFER to the current connection and answer. */
  const answerRestart = (state: LinkState, offer: Signal<"OFFER">, open: OpenLink, generation: LinkChannel.Generation, gate: Deferred.Deferred<void>) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const peer = generation.peer
      yield* Effect.gen(function*() {
        yield* peer.acceptRestartOffer(acceptedCandidates(offer.payload.sdp))
        yield* state.trickle.release
        const sdp = yield* peer.createAnswer
        yield* peer.startRestartedIce
        yield* signaling.send(state.remote, "ANSWER", { connection_id: offer.connectionId, sdp }, offer.id)
      }).pipe(Effect.ensuring(Effect.andThen(Deferred.succeed(gate, undefined), state.trickle.release)))
      const elapsedMs = (yield* Clock.currentTimeMillis) - started
      yield* report(open, new RecoveryEvents.IceRestarted({ connectionId: offer.connectionId, role: "answerer", elapsedMs }))
    })

  /** The answerer's side of a rebuild: a new connection answering the OFFER replaces the current one once open. */
  const answerRebuild = (state: LinkState, offer: Signal<"OFFER">, open: OpenLink, scope: Scope.Closeable, recovering: Recovering) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      const number = SubscriptionRef.getUnsafe(open.current).number + 1
      const next = yield* answerGeneration(state, offer, number, scope, 0).pipe(
        Effect.onError(() => recovering.superseded() ? Effect.void : state.trickle.retarget(SubscriptionRef.getUnsafe(open.current).peer))
      )
      yield* replace(open, next)
      const elapsedMs = (yield* Clock.currentTimeMillis) - started
      yield* report(open, new RecoveryEvents.Reestablished({ connectionId: offer.connectionId, role: "answerer", generation: number, elapsedMs }))
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
      const open = state.link()
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
        const recovering = yield* state.recover()
        // Set before the candidates that follow the OFFER are handled.
        const gate = yield* Deferred.make<void>()
        yield* state.trickle.hold(gate)
        return yield* answerRestart(state, offer, open, generation, gate).pipe(
          settle(recovering, "an ICE restart"),
          Effect.forkIn(open.scope),
          Effect.asVoid
        )
      }
      // A rebuild: a newer OFFER supersedes one still being answered (`recover` closes its scope).
      const scope = yield* Scope.fork(open.scope, "sequential")
      const recovering = yield* state.recover(scope).pipe(Effect.onError(() => Scope.close(scope, Exit.void)))
      yield* state.trickle.retarget(undefined)
      yield* answerRebuild(state, offer, open, scope, recovering).pipe(
        settle(recovering, "a rebuild of a connection"),
        Effect.forkIn(open.scope)
      )
    }).pipe(
      // An ended link recovers nothing.
      Effect.catchTag("InvalidTransition", (error) =>
        Effect.andThen(Metric.update(PeerMetrics.offersRefused("not_open"), 1), Effect.logWarning("ignored an OFFER for a connection that is not open", error.message)))
    )

  /** Settles the answerer's side of a recovery: `recovered` once it worked, else (logged) `abandoned`. */
  const settle = (recovering: Recovering, what: string) => <E>(answering: Effect.Effect<void, E>): Effect.Effect<void> =>
    answering.pipe(
      Effect.matchCauseEffect({
        onSuccess: () => recovering.recovered,
        onFailure: (cause) => Effect.andThen(Effect.logWarning(`could not answer ${what}`, cause), recovering.abandoned)
      }),
      Effect.catchTag("InvalidTransition", (error) => Effect.logDebug("the link ended before its recovery settled", error.message))
    )

  return { supervise, onRenegotiation }
}
