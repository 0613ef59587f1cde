/**
 * Negotiating peer connections through Signaling (PROTOCOL.md 5.1–5.3).
 *
 * A connection is keyed by (remote DID, connection id); signals are applied only from that DID,
 * and an ANSWER only when it correlates to our OFFER, so a third agent cannot inject candidates,
 * answers or BYEs into someone else's connection. The offerer creates the `ioap` control channel
 * before its offer. The answerer applies its accept policy before it creates anything, and pending
 * inbound offers are limited per DID and in total. Remote candidates pass the candidate policy.
 *
 * With `recovery` on, a link whose connection goes `disconnected` or `failed` is recovered by its
 * original offerer (PROTOCOL.md 5.2: an OFFER on the existing connection id; see `Recovery`).
 *
 * @since 0.1.0
 */
import {
  Clock,
  Context,
  Deferred,
  Effect,
  Exit,
  Layer,
  Metric,
  Option,
  PubSub,
  Queue,
  Schema,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import { GatewayClient } from "../../client/GatewayClient.ts"
import { type Signal, Signaling } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import type { ErrorCode } from "../../protocol/ErrorCode.ts"
import { boundedMemo } from "../../util/BoundedMemo.ts"
import type { IceServer } from "../../protocol/Envelope.ts"
import { normalizeCandidateLine } from "../../protocol/WebRtc.ts"
import * as CandidatePolicy from "../peer/CandidatePolicy.ts"
import type * as DataChannel from "../peer/DataChannel.ts"
import * as LinkChannel from "./LinkChannel.ts"
import * as LinkRecovery from "./LinkRecovery.ts"
import type { LinkState, OpenLink } from "./LinkRecovery.ts"
import * as PeerConnection from "../peer/PeerConnection.ts"
import * as PeerMetrics from "../peer/PeerMetrics.ts"
import * as Recovery from "./Recovery.ts"
import { Transport } from "../peer/Transport.ts"
import * as StateMachine from "../../machine/StateMachine.ts"

/** The BYE reason of an offer refused by the simultaneous-offer rule (its sender then adopts ours). */
export const GLARE_REASON = "simultaneous offers: the lower DID's offer is kept"

/** The control channel of PROTOCOL.md 5.3. */
export const CONTROL_LABEL = "ioap"
export const CONTROL_PROTOCOL = "ioap.v1"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** The connection did not open within the connect deadline. */
export class ConnectTimeout extends Schema.TaggedError<ConnectTimeout>()("ConnectTimeout", {
  remote: Schema.String,
  connectionId: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `no connection to ${this.remote} within ${this.timeoutMs} ms`
  }
}

/** The peer declined (BYE with CONNECTION_REFUSED, or another code, before the connection opened). */
export class ConnectionRefused extends Schema.TaggedError<ConnectionRefused>()("ConnectionRefused", {
  remote: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.remote} refused the connection (${this.code}): ${this.reason}`
  }
}

/** Negotiation failed: the peer is unknown, the stack refused, or the connection failed. */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  remote: Schema.String,
  reason: Schema.String,
  /** Trying again at once cannot help (the gateway could not deliver our signal, e.g. UNKNOWN_AGENT). */
  final: Schema.optionalKey(Schema.Boolean)
}) {
  override get message() {
    return `connection to ${this.remote} failed: ${this.reason}`
  }
}

/** Why `connect` failed. */
export type ConnectError = ConnectTimeout | ConnectionRefused | ConnectFailed

// ---------------------------------------------------------------------------
// Links
// ---------------------------------------------------------------------------

/** An open connection to a peer, with its control channel. */
export interface PeerLink {
  readonly remote: Did
  readonly connectionId: string
  readonly role: "offerer" | "answerer"
  /** The peer connection; with recovery, the current one (a rebuild replaces it). */
  readonly peer: PeerConnection.PeerConnection
  /** The `ioap` control channel; with recovery it carries on over a rebuilt connection. */
  readonly control: LinkChannel.LinkChannel
  /** What the link's recoveries did (`IceRestarted`, `Reestablished`, `RecoveryFailed`); the last 16 are replayed. */
  readonly events: Stream.Stream<Recovery.LinkEvent>
  /**
   * Completes when the link ends: BYE from the peer, the connection closed, or failed (with
   * recovery: once recovery gave up).
   */
  readonly ended: Effect.Effect<void>
  /** Sends BYE and closes the connection; closing again does nothing. */
  readonly close: Effect.Effect<void>
}

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
   * Recover links whose path broke (see `Recovery`): as offerer, restart ICE or rebuild the
   * connection when it goes `disconnected` or `failed`; as answerer, wait that long for the
   * offerer's recovery before a failed link ends. Default: off (a failed link ends).
   */
  readonly recovery?: Recovery.RecoveryOptions | boolean
}

/** Negotiates peer connections over Signaling with a Transport. */
export class Connector extends Context.Service<Connector, {
  /** Opens a connection to `remote` as the offerer; it closes with the scope (or `close`). */
  readonly connect: (remote: Did) => Effect.Effect<PeerLink, ConnectError, Scope.Scope>
  /** Connections other agents opened to this one, once open. */
  readonly incoming: Stream.Stream<PeerLink>
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

const keyOf = (remote: string, connectionId: string) => `${remote} ${connectionId}`

const make = Effect.fnUntraced(function*(config: ConnectorConfig) {
  const signaling = yield* Signaling
  const transport = yield* Transport
  const connectorScope = yield* Effect.scope
  const links = new Map<string, LinkState>()
  const incoming = yield* Queue.unbounded<PeerLink>()
  const policy = config.candidatePolicy ?? CandidatePolicy.defaultPolicy
  const connectTimeoutMs = config.connectTimeoutMs ?? 15_000
  const connectAttempts = config.connectAttempts ?? 3
  const maxPerPeer = config.maxPendingOffersPerPeer ?? 4
  const maxPending = config.maxPendingOffers ?? 64
  const recovery = config.recovery === true ? {} : config.recovery === false ? undefined : config.recovery
  const recoveryAttempts = recovery?.attempts ?? 3
  const attemptTimeoutMs = recovery?.attemptTimeoutMs ?? 10_000
  const pendingByPeer = new Map<string, number>()
  let pending = 0
  // Our offers still being negotiated, per peer, for the simultaneous-offer rule.
  const outgoing = new Map<string, Deferred.Deferred<PeerLink>>()

  const register = (remote: Did, connectionId: string, role: "offerer" | "answerer") =>
    Effect.acquireRelease(
      Effect.gen(function*() {
        const state: LinkState = {
          remote,
          role,
          answers: yield* Queue.unbounded<Signal<"ANSWER">>(),
          failure: yield* Deferred.make<never, ConnectError>(),
          bye: yield* Deferred.make<Signal<"BYE">>(),
          candidates: [],
          peer: undefined,
          gate: yield* Deferred.make<void>(),
          holding: false,
          open: undefined
        }
        links.set(keyOf(remote, connectionId), state)
        return state
      }),
      () => Effect.sync(() => links.delete(keyOf(remote, connectionId)))
    )

  /** Applies or buffers a remote candidate that passed the policy. */
  const addCandidate = (state: LinkState, candidate: PeerConnection.IceCandidate) => {
    if (state.peer === undefined || state.holding) {
      state.candidates.push(candidate)
      return Effect.void
    }
    return Effect.ignore(state.peer.addRemoteCandidate(candidate), { log: "Debug" })
  }

  /** Applies the remote candidates held while a description was being applied. */
  const releaseHeld = (state: LinkState) =>
    Effect.suspend(() => {
      state.holding = false
      return Effect.forEach(state.candidates.splice(0), (candidate) => addCandidate(state, candidate), { discard: true })
    })

  /**
   * Creates the stack's connection, and trickles its candidates to the peer once `described`
   * completes (and, after an ICE restart, once the restart's OFFER or ANSWER is sent): a candidate
   * must not overtake the description it belongs to, since the peer ignores signals for a
   * connection it does not know yet.
   */
  const createPeer = (state: LinkState, connectionId: string, described: Deferred.Deferred<void>) =>
    Effect.gen(function*() {
      const iceServers = yield* config.iceServers
      const native = yield* transport.create({ iceServers })
      const peer = yield* PeerConnection.make(native, { maxMessageSize: transport.maxMessageSize })
      state.peer = peer
      state.gate = described
      for (const candidate of state.candidates.splice(0)) yield* addCandidate(state, candidate)
      yield* peer.localCandidates.pipe(
        Stream.runForEach((candidate) =>
          Effect.andThen(Effect.suspend(() => Deferred.await(state.gate)), signaling.send(state.remote, "ICE_CANDIDATE", {
            connection_id: connectionId,
            candidate: candidate.candidate === "" ? "" : normalizeCandidateLine(candidate.candidate),
            ...(candidate.sdpMid === undefined ? {} : { sdp_mid: candidate.sdpMid }),
            ...(candidate.sdpMLineIndex === undefined ? {} : { sdp_mline_index: candidate.sdpMLineIndex }),
            ...(candidate.sdpMid === undefined && candidate.sdpMLineIndex === undefined ? { sdp_mline_index: 0 } : {})
          })).pipe(Effect.ignore({ log: "Warn" }))),
        Effect.forkScoped
      )
      return peer
    })

  /** Fails with ConnectionRefused once the peer says BYE. */
  const refusedByBye = (state: LinkState) =>
    Effect.flatMap(Deferred.await(state.bye), (bye) => {
      const payload = bye.payload as { readonly code?: string; readonly reason?: string }
      return Effect.fail(new ConnectionRefused({ remote: state.remote, code: payload.code ?? "BYE", reason: payload.reason ?? "the peer said BYE" }))
    })

  /** Waits until the connection is up and the control channel open, or it fails or the peer says BYE. */
  const awaitOpen = (state: LinkState, connectionId: string, peer: PeerConnection.PeerConnection, control: Effect.Effect<DataChannel.DataChannel>) =>
    Effect.gen(function*() {
      const failed = StateMachine.until(peer.connection.state, (s) => s === "failed" || s === "closed").pipe(
        Effect.andThen((s) => Effect.fail(new ConnectFailed({ remote: state.remote, reason: `connection ${Option.getOrElse(s, () => "ended")}` })))
      )
      const opened = Effect.gen(function*() {
        const channel = yield* control
        yield* channel.opened.pipe(Effect.mapError(() => new ConnectFailed({ remote: state.remote, reason: "the control channel closed" })))
        yield* StateMachine.until(peer.connection.state, (s) => s === "connected")
        return channel
      })
      return yield* Effect.raceAllFirst([opened, failed, refusedByBye(state), Deferred.await(state.failure)]).pipe(
        Effect.timeoutOrElse({
          duration: connectTimeoutMs,
          orElse: () => Effect.fail(new ConnectTimeout({ remote: state.remote, connectionId, timeoutMs: connectTimeoutMs }))
        })
      )
    })

  /** The answer to our OFFER `offerId` (others are logged and dropped), unless the peer says BYE or a signal fails. */
  const answerTo = (state: LinkState, offerId: string) =>
    Effect.gen(function*() {
      while (true) {
        const candidate = yield* Queue.take(state.answers)
        if (candidate.correlationId === offerId) return candidate
        yield* Effect.logWarning("ignored an ANSWER that does not answer our OFFER")
      }
    }).pipe(Effect.raceFirst(refusedByBye(state)), Effect.raceFirst(Deferred.await(state.failure)))

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
        const down = StateMachine.until(generation.peer.connection.state, (s) => s === "failed" || s === "closed").pipe(
          Effect.map(Option.getOrElse(() => "closed" as const))
        )
        const event = yield* Effect.raceFirst(down, replaced)
        if (event === "replaced" || SubscriptionRef.getUnsafe(open.current) !== generation) continue
        if (event === "closed" || recovery === undefined) return
        // Failed, with recovery: wait for the connection to come back or be replaced.
        const back = Effect.raceFirst(
          StateMachine.until(generation.peer.connection.state, (s) => s !== "failed"),
          replaced
        )
        if (state.role === "offerer") {
          yield* back
          continue
        }
        const recovered = yield* Effect.timeoutOption(back, recoveryAttempts * attemptTimeoutMs)
        if (Option.isNone(recovered)) return
      }
    })

  /** A link over an open connection; its scope ends it. */
  const toLink = (
    state: LinkState,
    connectionId: string,
    first: LinkChannel.Generation,
    linkScope: Scope.Closeable
  ): Effect.Effect<PeerLink> =>
    Effect.gen(function*() {
      const ended = yield* Deferred.make<void>()
      // It ends once: on BYE, when the connection fails or closes, or when its scope closes. The
      // gauge is updated before `ended` completes, so whoever waits on it sees the new count.
      let isOpen = true
      const end = Effect.suspend(() => {
        if (!isOpen) return Effect.void
        isOpen = false
        return Effect.andThen(Metric.modify(PeerMetrics.activeConnections, -1), Deferred.succeed(ended, undefined))
      })
      yield* Metric.update(PeerMetrics.connections(state.role), 1)
      yield* Metric.modify(PeerMetrics.activeConnections, 1)
      yield* Scope.addFinalizer(linkScope, end)
      const current = yield* SubscriptionRef.make(first)
      const open: OpenLink = {
        current,
        events: yield* PubSub.unbounded<Recovery.LinkEvent>({ replay: 16 }),
        scope: linkScope,
        pending: undefined
      }
      state.open = open
      const control = yield* LinkChannel.make({ connectionId, current, recovery: recovery !== undefined, ended: Deferred.await(ended) }).pipe(
        Scope.provide(linkScope)
      )
      yield* Effect.raceFirst(Deferred.await(state.bye), watchEnd(state, open)).pipe(
        Effect.andThen(end),
        Effect.forkIn(linkScope)
      )
      if (recovery !== undefined && state.role === "offerer") {
        yield* Effect.forkIn(recovering.superviseRecovery(state, connectionId, open), linkScope)
      }
      return {
        remote: state.remote,
        connectionId,
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

  /** Sends BYE when a link's scope closes, unless the peer said BYE first. */
  const byeOnClose = (state: LinkState, connectionId: string) =>
    Effect.addFinalizer(() =>
      Effect.gen(function*() {
        if (yield* Deferred.isDone(state.bye)) return
        yield* Effect.ignore(signaling.send(state.remote, "BYE", { connection_id: connectionId, reason: "closed" }))
      })
    )

  // -------------------------------------------------------------------------
  // Offerer
  // -------------------------------------------------------------------------

  /**
   * A new peer connection with its control channel, offered on `connectionId`, until it is open:
   * the first of a link, or a rebuild. It lives in its own scope, a child of `linkScope`.
   */
  const offerGeneration = (state: LinkState, connectionId: string, number: number, linkScope: Scope.Closeable) =>
    Effect.gen(function*() {
      const scope = yield* Scope.fork(linkScope, "sequential")
      return yield* Effect.gen(function*() {
        const described = yield* Deferred.make<void>()
        const peer = yield* createPeer(state, connectionId, described)
        const control = yield* peer.createDataChannel({ label: CONTROL_LABEL, protocol: CONTROL_PROTOCOL, ordered: true })
        const sdp = yield* peer.createOffer
        const offerId = yield* signaling.send(state.remote, "OFFER", { connection_id: connectionId, sdp })
        yield* Deferred.succeed(described, undefined)
        const answer = yield* answerTo(state, offerId)
        yield* peer.acceptAnswer(answer.payload.sdp)
        const channel = yield* awaitOpen(state, connectionId, peer, Effect.succeed(control))
        return { number, peer, control: channel, scope } satisfies LinkChannel.Generation
      }).pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
    })

  /** One attempt: a new connection id, within `deadlineMs`. */
  const attempt = (remote: Did, deadlineMs: number): Effect.Effect<PeerLink, ConnectError, Scope.Scope> =>
    Effect.gen(function*() {
      const connectTimeoutMs = deadlineMs
      const callerScope = yield* Effect.scope
      const linkScope = yield* Scope.fork(callerScope, "sequential")
      const connectionId = globalThis.crypto.randomUUID()
      const superseded = yield* Deferred.make<PeerLink>()
      outgoing.set(remote, superseded)
      const adopted = Effect.tap(Deferred.await(superseded), (link) =>
        Effect.andThen(Scope.close(linkScope, Exit.void), Scope.addFinalizer(callerScope, link.close)))
      const setup = Effect.gen(function*() {
        const state = yield* register(remote, connectionId, "offerer")
        yield* byeOnClose(state, connectionId)
        const first = yield* offerGeneration(state, connectionId, 0, linkScope)
        return yield* toLink(state, connectionId, first, linkScope)
      }).pipe(Scope.provide(linkScope))
      return yield* setup.pipe(
        // Our offer lost the simultaneous-offer rule: the peer's offer is on its way; adopt it.
        Effect.catchTag("ConnectionRefused", (error) =>
          config.onePerPeer === true && error.reason === GLARE_REASON ? Effect.never : Effect.fail(error)),
        Effect.raceFirst(adopted),
        Effect.timeoutOrElse({
          duration: connectTimeoutMs,
          orElse: () => Effect.fail(new ConnectTimeout({ remote, connectionId, timeoutMs: connectTimeoutMs }))
        }),
        Effect.ensuring(Effect.sync(() => {
          if (outgoing.get(remote) === superseded) outgoing.delete(remote)
        })),
        Effect.mapError((error) =>
          error._tag === "ConnectTimeout" || error._tag === "ConnectionRefused" || error._tag === "ConnectFailed"
            ? error
            : new ConnectFailed({ remote, reason: `${error._tag}: ${error.message || JSON.stringify(error)}` })
        ),
        Effect.onError(() => Scope.close(linkScope, Exit.void))
      )
    })

  /**
   * Opens a connection, trying again with a new connection id when an attempt fails early (the
   * stack failed the connection; not on refusal or timeout), within one connect deadline.
   */
  const connect = (remote: Did): Effect.Effect<PeerLink, ConnectError, Scope.Scope> =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      let tries = 0
      while (true) {
        const remaining = connectTimeoutMs - ((yield* Clock.currentTimeMillis) - started)
        const result = yield* Effect.result(attempt(remote, Math.max(1, remaining)))
        if (result._tag === "Success") {
          const elapsed = (yield* Clock.currentTimeMillis) - started
          yield* Metric.update(PeerMetrics.connectSeconds, elapsed / 1000)
          return result.success
        }
        tries++
        if (result.failure._tag !== "ConnectFailed" || result.failure.final === true || tries >= connectAttempts) {
          yield* Metric.update(PeerMetrics.connectErrors(result.failure._tag), 1)
          return yield* Effect.fail(result.failure)
        }
        yield* Metric.update(PeerMetrics.connectRetries, 1)
        yield* Effect.logWarning("connection attempt failed; trying again", result.failure.reason)
      }
    })

  // -------------------------------------------------------------------------
  // Answerer
  // -------------------------------------------------------------------------

  /** A new peer connection answering `offer`, until its control channel is open; it lives in `scope`. */
  const answerGeneration = (state: LinkState, offer: Signal<"OFFER">, number: number, scope: Scope.Closeable, retry: boolean) =>
    Effect.gen(function*() {
      const described = yield* Deferred.make<void>()
      const peer = yield* createPeer(state, offer.connectionId, described)
      yield* peer.acceptOffer(transport.prepareRemoteOffer(offer.payload.sdp, { retry }))
      const sdp = yield* peer.createAnswer
      yield* signaling.send(state.remote, "ANSWER", { connection_id: offer.connectionId, sdp }, offer.id)
      yield* Deferred.succeed(described, undefined)
      const control = peer.remoteChannels.pipe(
        Stream.filter((channel) => channel.label === CONTROL_LABEL),
        Stream.runHead,
        Effect.map(Option.getOrThrow)
      )
      const channel = yield* awaitOpen(state, offer.connectionId, peer, control)
      return { number, peer, control: channel, scope } satisfies LinkChannel.Generation
    }).pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))

  const answer = (
    offer: Signal<"OFFER">,
    state: LinkState,
    linkScope: Scope.Closeable,
    deliver: (link: PeerLink) => Effect.Effect<unknown>
  ) =>
    Effect.gen(function*() {
      const remote = offer.from
      const connectionId = offer.connectionId
      const verdict = config.acceptPolicy === undefined ? true : yield* config.acceptPolicy(remote)
      if (verdict !== true) {
        const { code, reason } = verdict === false ? { code: "CONNECTION_REFUSED" as const, reason: "not accepted" } : verdict
        yield* Effect.ignore(signaling.send(remote, "BYE", { connection_id: connectionId, code, reason }))
        return yield* Scope.close(linkScope, Exit.void)
      }
      const setup = Effect.gen(function*() {
        yield* byeOnClose(state, connectionId)
        const retry = isRetry(remote, yield* Clock.currentTimeMillis)
        const first = yield* answerGeneration(state, offer, 0, yield* Scope.fork(linkScope, "sequential"), retry)
        return yield* toLink(state, connectionId, first, linkScope)
      }).pipe(Scope.provide(linkScope))
      const link = yield* setup.pipe(Effect.onError(() => Scope.close(linkScope, Exit.void)))
      yield* deliver(link)
    })

  // When answering each DID last failed: an offer from it soon after is a retry of that attempt.
  const lastFailure = boundedMemo<string, number>(4096)
  const RETRY_WINDOW_MS = 30_000
  const isRetry = (remote: string, now: number): boolean => {
    const failed = lastFailure.get(remote)
    return failed !== undefined && now - failed < RETRY_WINDOW_MS
  }
  const answerFailed = (remote: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => lastFailure.set(remote, now)))

  const recovering = LinkRecovery.make({
    signaling,
    transport,
    attempts: recoveryAttempts,
    attemptTimeoutMs,
    answerTo,
    offerGeneration,
    answerGeneration,
    releaseHeld
  })

  const releasePending = (remote: string) =>
    Effect.sync(() => {
      pending--
      const count = (pendingByPeer.get(remote) ?? 1) - 1
      if (count <= 0) pendingByPeer.delete(remote)
      else pendingByPeer.set(remote, count)
    })

  const onOffer = (offer: Signal<"OFFER">) =>
    Effect.gen(function*() {
      const existing = links.get(keyOf(offer.from, offer.connectionId))
      if (existing !== undefined) return yield* recovering.onRenegotiation(existing, offer)
      const ours = config.onePerPeer === true ? outgoing.get(offer.from) : undefined
      if (ours !== undefined && signaling.self < offer.from) {
        // Both offered: ours, from the lower DID, is kept.
        yield* Effect.ignore(signaling.send(offer.from, "BYE", {
          connection_id: offer.connectionId,
          code: "CONNECTION_REFUSED",
          reason: GLARE_REASON
        }))
        return
      }
      const fromPeer = pendingByPeer.get(offer.from) ?? 0
      if (pending >= maxPending || fromPeer >= maxPerPeer) {
        yield* Effect.ignore(signaling.send(offer.from, "BYE", { connection_id: offer.connectionId, code: "RATE_LIMITED", reason: "too many pending offers" }))
        return
      }
      pending++
      pendingByPeer.set(offer.from, fromPeer + 1)
      // Registered now, so candidates that follow the OFFER find the connection; the link's
      // scope removes it again.
      const linkScope = yield* Scope.fork(connectorScope, "sequential")
      const state = yield* register(offer.from, offer.connectionId, "answerer").pipe(Scope.provide(linkScope))
      // When both offered and theirs wins, the link goes to our waiting `connect` instead.
      const deliver = (link: PeerLink) =>
        ours === undefined ? Queue.offer(incoming, link) : Deferred.succeed(ours, link)
      yield* answer(offer, state, linkScope, deliver).pipe(
        Effect.catchCause((cause) => Effect.andThen(answerFailed(offer.from), Effect.logWarning("could not answer an OFFER", cause))),
        Effect.ensuring(releasePending(offer.from)),
        Effect.forkIn(connectorScope)
      )
    })

  const onSignal = (signal: Signal): Effect.Effect<void> => {
    if (signal.type === "OFFER") return onOffer(signal as Signal<"OFFER">)
    // Everything else only for a connection with that DID and connection id.
    const state = links.get(keyOf(signal.from, signal.connectionId))
    if (state === undefined) return Effect.void
    switch (signal.type) {
      case "ANSWER":
        return state.role === "offerer" ? Effect.asVoid(Queue.offer(state.answers, signal as Signal<"ANSWER">)) : Effect.void
      case "ICE_CANDIDATE": {
        const payload = (signal as Signal<"ICE_CANDIDATE">).payload
        if (!CandidatePolicy.accepts(policy, payload.candidate)) {
          return Effect.logDebug("dropped a remote candidate refused by the candidate policy")
        }
        return addCandidate(state, {
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
      const state = report.connectionId === undefined ? undefined : links.get(keyOf(report.to, report.connectionId))
      return state === undefined
        ? Effect.void
        : Deferred.fail(state.failure, new ConnectFailed({ remote: state.remote, reason: `signal not delivered: ${report.code}`, final: true }))
    }),
    Effect.forkScoped
  )

  return Connector.of({ connect, incoming: Stream.fromQueue(incoming) })
})
