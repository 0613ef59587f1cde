/**
 * Negotiating peer connections through Signaling (PROTOCOL.md 5.1–5.3): the service that composes
 * the offerer (`Offerer`), the answerer (`Answerer`), the limits on pending offers
 * (`PendingOffers`), simultaneous offers (`Glare`) and recovery (`LinkRecovery`), and routes each
 * incoming signal to its connection (`LinkState`).
 *
 * A connection is keyed by (remote DID, connection id); signals are applied only from that DID,
 * and an ANSWER only when it correlates to our OFFER, so a third agent cannot inject candidates,
 * answers or BYEs into someone else's connection. Remote candidates pass the candidate policy.
 *
 * With `recovery` on, a link whose connection goes `disconnected` or `failed` is recovered by its
 * original offerer (PROTOCOL.md 5.2: an OFFER on the existing connection id; see `LinkRecovery`).
 *
 * @since 0.1.0
 */
import { Context, Deferred, Effect, Layer, Queue, Scope, Stream } from "effect"
import { GatewayClient } from "../../client/GatewayClient.ts"
import { type Signal, Signaling } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import type { ErrorCode } from "../../protocol/ErrorCode.ts"
import type { IceServer } from "../../protocol/Envelope.ts"
import * as CandidatePolicy from "../peer/CandidatePolicy.ts"
import { type IceTransportPolicy, Transport } from "../peer/Transport.ts"
import * as Answerer from "./Answerer.ts"
import { type ConnectError, ConnectFailed } from "./ConnectErrors.ts"
import * as Glare from "./Glare.ts"
import * as Link from "./Link.ts"
import * as LinkRecovery from "./LinkRecovery.ts"
import * as LinkState from "./LinkState.ts"
import * as Negotiation from "./Negotiation.ts"
import * as Offerer from "./Offerer.ts"
import * as PendingOffers from "./PendingOffers.ts"

export { ConnectFailed, type ConnectError, ConnectionRefused, ConnectTimeout } from "./ConnectErrors.ts"
export type { PeerLink } from "./Link.ts"

/** How a Connector negotiates. */
export interface ConnectorConfig {
  /** ICE servers for new connections (with a gateway: the ones in REGISTERED). */
  readonly iceServers: Effect.Effect<ReadonlyArray<IceServer>>
  /**
   * Whether to answer an OFFER from this DID; applied before anything is created. Default: yes.
   * `false` refuses with CONNECTION_REFUSED; `{ code, reason }` refuses with that BYE.
   */
  readonly acceptPolicy?: (remote: Did) => Effect.Effect<boolean | { readonly code: ErrorCode; readonly reason: string }>
  readonly candidatePolicy?: CandidatePolicy.CandidatePolicy
  /** Local candidates ICE may use: "relay" keeps host and srflx paths unused (default "all"). */
  readonly iceTransportPolicy?: IceTransportPolicy
  /** Connect deadline for both sides (default 15 s). */
  readonly connectTimeoutMs?: number
  /** Attempts within the deadline when the stack fails a connection early (default 3). */
  readonly connectAttempts?: number
  /**
   * One connection per peer when both sides offer at once (PROTOCOL.md 5.2): the offer of the
   * lower DID (byte-wise) is kept, the other is refused with BYE; the caller whose offer lost gets
   * the link of the other one. Default: off (simultaneous offers make two connections).
   */
  readonly onePerPeer?: boolean
  readonly maxPendingOffersPerPeer?: number
  readonly maxPendingOffers?: number
  /**
   * Recover links whose path broke (see `LinkRecovery`): as offerer, restart ICE or rebuild the
   * connection when it goes `disconnected` or `failed`; as answerer, wait that long for the
   * offerer's recovery before a failed link ends. Default: off (a failed link ends).
   */
  readonly recovery?: LinkRecovery.RecoveryOptions | boolean
}

/** Negotiates peer connections over Signaling with a Transport. */
export class Connector extends Context.Service<Connector, {
  /** Opens a connection to `remote` as the offerer; it closes with the scope (or `close`). */
  readonly connect: (remote: Did) => Effect.Effect<Link.PeerLink, ConnectError, Scope.Scope>
  /** Connections other agents opened to this one, once open. */
  readonly incoming: Stream.Stream<Link.PeerLink>
}>()("aiconexus/webrtc/Connector") {
  static readonly layer = (config: ConnectorConfig): Layer.Layer<Connector, never, Signaling | Transport> =>
    Layer.effect(Connector, make(config))

  /** A Connector whose ICE servers are the ones the gateway sent in REGISTERED (current session). */
  static readonly layerWithGateway = (
    options: Omit<ConnectorConfig, "iceServers"> = {}
  ): Layer.Layer<Connector, never, Signaling | Transport | GatewayClient> =>
    Layer.unwrap(Effect.gen(function*() {
      const client = yield* GatewayClient
      const iceServers = Effect.map(client.session, (session) => session.iceServers).pipe(
        Effect.orElseSucceed((): ReadonlyArray<IceServer> => [])
      )
      return Connector.layer({ ...options, iceServers })
    }))
}

const make = Effect.fnUntraced(function*(config: ConnectorConfig) {
  const signaling = yield* Signaling
  const transport = yield* Transport
  const connectorScope = yield* Effect.scope
  const incoming = yield* Queue.unbounded<Link.PeerLink>()
  const policy = CandidatePolicy.forStack(config.candidatePolicy ?? CandidatePolicy.defaultPolicy, transport)
  const connectTimeoutMs = config.connectTimeoutMs ?? 15_000
  const recoveryOptions = config.recovery === true ? {} : config.recovery === false ? undefined : config.recovery

  const registry = LinkState.makeRegistry()
  const negotiation = Negotiation.make({
    signaling,
    transport,
    iceServers: config.iceServers,
    iceTransportPolicy: config.iceTransportPolicy,
    connectTimeoutMs,
    acceptsCandidate: (line) => CandidatePolicy.accepts(policy, line)
  })
  const attempts = recoveryOptions?.attempts ?? 3
  const attemptTimeoutMs = recoveryOptions?.attemptTimeoutMs ?? 10_000
  // Every link answers its offerer's recoveries; only with `recovery` on does an offerer start them.
  const recovery = LinkRecovery.make({ negotiation, signaling, transport, attempts, attemptTimeoutMs })
  const links = Link.make({
    signaling,
    recovery: recoveryOptions === undefined ? undefined : { supervisor: recovery, recoveryWindowMs: attempts * attemptTimeoutMs }
  })
  const glare = Glare.make(signaling.self, config.onePerPeer === true)
  const pending = PendingOffers.make({ maxPerPeer: config.maxPendingOffersPerPeer ?? 4, maxTotal: config.maxPendingOffers ?? 64 })
  const connect = Offerer.make({ registry, negotiation, links, glare, connectTimeoutMs, connectAttempts: config.connectAttempts ?? 3 })
  const answer = Answerer.make({ signaling, negotiation, links, acceptPolicy: config.acceptPolicy })

  /** Refuses `offer` with BYE. */
  const refuse = (offer: Signal<"OFFER">, code: "CONNECTION_REFUSED" | "RATE_LIMITED", reason: string) =>
    Effect.ignore(signaling.send(offer.from, "BYE", { connection_id: offer.connectionId, code, reason }))

  const onOffer = (offer: Signal<"OFFER">) =>
    Effect.gen(function*() {
      const existing = registry.get(offer.from, offer.connectionId)
      if (existing !== undefined) return yield* recovery.onRenegotiation(existing, offer)
      const ours = glare.ours(offer.from)
      if (ours !== undefined && glare.oursIsKept(offer.from)) return yield* refuse(offer, "CONNECTION_REFUSED", Glare.GLARE_REASON)
      if (!pending.admit(offer.from)) return yield* refuse(offer, "RATE_LIMITED", "too many pending offers")
      // Registered now, so candidates that follow the OFFER find the connection; the link's
      // scope removes it again.
      const linkScope = yield* Scope.fork(connectorScope, "sequential")
      const state = yield* registry.register(offer.from, offer.connectionId, "answerer").pipe(Scope.provide(linkScope))
      // When both offered and theirs wins, the link goes to our waiting `connect` instead.
      const deliver = (link: Link.PeerLink) => ours === undefined ? Queue.offer(incoming, link) : Deferred.succeed(ours, link)
      yield* answer(offer, state, linkScope, deliver).pipe(
        Effect.ensuring(pending.release(offer.from)),
        Effect.forkIn(connectorScope)
      )
    })

  const onSignal = (signal: Signal): Effect.Effect<void> => {
    if (signal.type === "OFFER") return onOffer(signal as Signal<"OFFER">)
    // Everything else only for a connection with that DID and connection id.
    const state = registry.get(signal.from, signal.connectionId)
    if (state === undefined) return Effect.void
    switch (signal.type) {
      case "ANSWER":
        return state.role === "offerer" ? Effect.asVoid(Queue.offer(state.answers, signal as Signal<"ANSWER">)) : Effect.void
      case "ICE_CANDIDATE": {
        const payload = (signal as Signal<"ICE_CANDIDATE">).payload
        if (!CandidatePolicy.accepts(policy, payload.candidate)) {
          return Effect.logDebug("dropped a remote candidate refused by the candidate policy")
        }
        return state.trickle.addRemote({
          candidate: payload.candidate,
          sdpMid: payload.sdp_mid,
          sdpMLineIndex: payload.sdp_mline_index,
          usernameFragment: payload.username_fragment
        })
      }
      case "BYE":
        return Effect.asVoid(Deferred.succeed(state.bye, signal as Signal<"BYE">))
    }
  }

  yield* signaling.incoming.pipe(Stream.runForEach(onSignal), Effect.forkScoped)
  yield* signaling.undelivered.pipe(
    Stream.runForEach((report) => {
      const state = report.connectionId === undefined ? undefined : registry.get(report.to, report.connectionId)
      return state === undefined
        ? Effect.void
        : Deferred.fail(state.failure, new ConnectFailed({ remote: state.remote, reason: `signal not delivered: ${report.code}`, final: true }))
    }),
    Effect.forkScoped
  )

  return Connector.of({ connect, incoming: Stream.fromQueue(incoming) })
})
