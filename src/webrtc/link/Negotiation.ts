/**
 * The negotiation of one peer connection of a link (a generation, see `LinkChannel`), from either
 * side (PROTOCOL.md 5.1–5.3): the offerer creates the `ioap` control channel before its OFFER and
 * applies the ANSWER that correlates to it; the answerer applies the OFFER and answers. Either way
 * the generation is done once the connection is up and the control channel open. The first
 * negotiation of a link and every rebuild (see `LinkRecovery`) go through here.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, Exit, Option, Queue, Scope, Stream } from "effect"
import type { IceServer } from "../../protocol/Envelope.ts"
import type { Signal, Signaling, SignalingError } from "../../client/Signaling.ts"
import { normalizeCandidateLine } from "../../protocol/IceCandidate.ts"
import type * as DataChannel from "../peer/DataChannel.ts"
import * as PeerConnection from "../peer/PeerConnection.ts"
import { HOLD_CANDIDATES_MS, type IceTransportPolicy, type RelayUnavailable, type Transport } from "../peer/Transport.ts"
import * as StateMachine from "../../machine/StateMachine.ts"
import { ConnectFailed, type ConnectError, ConnectionRefused, ConnectTimeout } from "./ConnectErrors.ts"
import type * as LinkChannel from "./LinkChannel.ts"
import type { LinkState } from "./LinkState.ts"

/** The control channel of PROTOCOL.md 5.3. */
export const CONTROL_LABEL = "ioap"
export const CONTROL_PROTOCOL = "ioap.v1"

/** What negotiating needs. */
export interface NegotiationConfig {
  readonly signaling: Signaling["Service"]
  readonly transport: Transport["Service"]
  /** ICE servers for new connections. */
  readonly iceServers: Effect.Effect<ReadonlyArray<IceServer>>
  /** `relay`: only TURN relays, never host or server-reflexive candidates. */
  readonly iceTransportPolicy?: IceTransportPolicy | undefined
  /** Deadline for a connection to open. */
  readonly connectTimeoutMs: number
  /** Whether a remote candidate line (`candidate:…`) may be used (the candidate policy); default all. */
  readonly acceptsCandidate?: ((line: string) => boolean) | undefined
}

/** Negotiating the generations of links. */
export interface Negotiation {
  /**
   * A new peer connection with its control channel, offered on the link's connection id, until it
   * is open: the first of a link, or a rebuild. It lives in its own scope, a child of `linkScope`.
   */
  readonly offerGeneration: (state: LinkState, number: number, linkScope: Scope.Closeable) => Effect.Effect<LinkChannel.Generation, NegotiationError>
  /** A new peer connection answering `offer`, until its control channel is open; it lives in `scope`. */
  readonly answerGeneration: (
    state: LinkState,
    offer: Signal<"OFFER">,
    number: number,
    scope: Scope.Closeable,
    failedAttempts: number
  ) => Effect.Effect<LinkChannel.Generation, NegotiationError>
  /**
   * A remote description without the candidates the candidate policy refuses: those a peer puts
   * in its SDP are held to the same policy as those it trickles.
   */
  readonly acceptedCandidates: (sdp: string) => string
  /** The answer to our OFFER `offerId` (others are logged and dropped), unless the peer says BYE or a signal fails. */
  readonly answerTo: (state: LinkState, offerId: string) => Effect.Effect<Signal<"ANSWER">, ConnectionRefused | ConnectFailed | ConnectTimeout>
}

/** Why negotiating a generation failed. */
export type NegotiationError = ConnectError | SignalingError | PeerConnection.RtcError | RelayUnavailable | StateMachine.InvalidTransition

/** Negotiation with `config`. */
export const make = (config: NegotiationConfig): Negotiation => {
  const { connectTimeoutMs, signaling, transport } = config
  const acceptsCandidate = config.acceptsCandidate

  const acceptedCandidates = (sdp: string): string =>
    acceptsCandidate === undefined
      ? sdp
      : sdp.split("\n").filter((line) => !line.startsWith("a=candidate:") || acceptsCandidate(line.slice(2).replace(/\r$/, ""))).join("\n")

  /**
   * Creates the stack's connection, and trickles its candidates to the peer (see `Trickle`): it
   * takes the link's remote candidates, and sends its local ones once `described` completes, but
   * not those the description sent already carried (`sent`, set before `described` completes):
   * stacks that gather before they describe (node-datachannel) put their candidates and
   * end-of-candidates in it, and each trickled copy would be one more signed message through the
   * gateway while the connection is set up. Once the connection was up (an ICE restart's candidates
   * belong to a newer description), every candidate is sent.
   */
  const createPeer = (state: LinkState, described: Deferred.Deferred<void>, sent: { sdp: string }) =>
    Effect.gen(function*() {
      const iceServers = yield* config.iceServers
      const native = yield* transport.create({ iceServers, iceTransportPolicy: config.iceTransportPolicy })
      const peer = yield* PeerConnection.make(native, { maxMessageSize: transport.maxMessageSize, sendCopiesData: transport.sendCopiesData })
      yield* state.trickle.attach(peer, described)
      const inSentDescription = (line: string) => {
        const connection = peer.connection.stateUnsafe()
        if (connection !== "new" && connection !== "connecting") return false
        return sent.sdp.split(/\r?\n/).includes(line === "" ? "a=end-of-candidates" : `a=${line}`)
      }
      yield* peer.localCandidates.pipe(
        Stream.runForEach((candidate) => {
          const line = candidate.candidate === "" ? "" : normalizeCandidateLine(candidate.candidate)
          return Effect.andThen(
            state.trickle.described,
            Effect.suspend(() =>
              inSentDescription(line) ? Effect.void : signaling.send(state.remote, "ICE_CANDIDATE", {
                connection_id: state.connectionId,
                candidate: line,
                ...(candidate.sdpMid === undefined ? {} : { sdp_mid: candidate.sdpMid }),
                ...(candidate.sdpMLineIndex === undefined ? {} : { sdp_mline_index: candidate.sdpMLineIndex }),
                ...(candidate.sdpMid === undefined && candidate.sdpMLineIndex === undefined ? { sdp_mline_index: 0 } : {})
              }))
          ).pipe(Effect.ignore({ log: "Warn" }))
        }),
        Effect.forkScoped
      )
      return peer
    })

  /** An SDP without its candidate lines (and end-of-candidates), and those candidates. */
  const splitCandidates = (sdp: string) => {
    const candidates: Array<PeerConnection.IceCandidate> = []
    let mid: string | undefined
    const lines = sdp.split(/\r?\n/).filter((line) => {
      if (line.startsWith("a=mid:")) mid = line.slice(6)
      if (line === "a=end-of-candidates") return false
      if (!line.startsWith("a=candidate:")) return true
      candidates.push(mid === undefined ? { candidate: line.slice(2), sdpMLineIndex: 0 } : { candidate: line.slice(2), sdpMid: mid })
      return false
    })
    return { sdp: lines.join("\r\n"), candidates }
  }

  /** Fails with ConnectionRefused once the peer says BYE. */
  const refusedByBye = (state: LinkState) =>
    Effect.flatMap(Deferred.await(state.bye), (bye) => {
      const payload = bye.payload as { readonly code?: string; readonly reason?: string }
      return Effect.fail(new ConnectionRefused({ remote: state.remote, code: payload.code ?? "BYE", reason: payload.reason ?? "the peer said BYE" }))
    })

  /** Waits until the connection is up and the control channel open, or it fails or the peer says BYE. */
  const awaitOpen = (state: LinkState, peer: PeerConnection.PeerConnection, control: Effect.Effect<DataChannel.DataChannel>) =>
    Effect.gen(function*() {
      const failed = peer.connection.until((s) => s === "failed" || s === "closed").pipe(
        Effect.andThen((s) => Effect.fail(new ConnectFailed({ remote: state.remote, reason: `connection ${Option.getOrElse(s, () => "ended")}` })))
      )
      const opened = Effect.gen(function*() {
        const channel = yield* control
        yield* channel.opened.pipe(Effect.mapError(() => new ConnectFailed({ remote: state.remote, reason: "the control channel closed" })))
        yield* peer.connection.until((s) => s === "connected")
        return channel
      })
      return yield* Effect.raceAllFirst([opened, failed, refusedByBye(state), Deferred.await(state.failure)]).pipe(
        Effect.timeoutOrElse({
          duration: connectTimeoutMs,
          orElse: () => Effect.fail(new ConnectTimeout({ remote: state.remote, connectionId: state.connectionId, timeoutMs: connectTimeoutMs }))
        })
      )
    })

  const answerTo = (state: LinkState, offerId: string) =>
    Effect.gen(function*() {
      while (true) {
        const candidate = yield* Queue.take(state.answers)
        if (candidate.correlationId === offerId) return candidate
        yield* Effect.logWarning("ignored an ANSWER that does not answer our OFFER")
      }
    }).pipe(Effect.raceFirst(refusedByBye(state)), Effect.raceFirst(Deferred.await(state.failure)))

  const offerGeneration = (state: LinkState, number: number, linkScope: Scope.Closeable) =>
    Effect.gen(function*() {
      const scope = yield* Scope.fork(linkScope, "sequential")
      return yield* Effect.gen(function*() {
        const described = yield* Deferred.make<void>()
        const sent = { sdp: "" }
        const peer = yield* createPeer(state, described, sent)
        const control = yield* peer.createDataChannel({ label: CONTROL_LABEL, protocol: CONTROL_PROTOCOL, ordered: true })
        const sdp = yield* peer.createOffer
        const offerId = yield* signaling.send(state.remote, "OFFER", { connection_id: state.connectionId, sdp })
        sent.sdp = sdp
        yield* Deferred.succeed(described, undefined)
        const answer = yield* answerTo(state, offerId)
        yield* peer.acceptAnswer(acceptedCandidates(answer.payload.sdp))
        const channel = yield* awaitOpen(state, peer, Effect.succeed(control))
        return { number, peer, control: channel, scope } satisfies LinkChannel.Generation
      }).pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))
    })

  const answerGeneration = (state: LinkState, offer: Signal<"OFFER">, number: number, scope: Scope.Closeable, failedAttempts: number) =>
    Effect.gen(function*() {
      const described = yield* Deferred.make<void>()
      const prepared = transport.prepareRemoteOffer(acceptedCandidates(offer.payload.sdp), { failedAttempts })
      let remoteSdp = prepared.sdp
      if (prepared.holdRemoteCandidates) {
        // The offer's candidates wait with the trickled ones (see `RemoteOffer`).
        yield* state.trickle.hold(described)
        const split = splitCandidates(prepared.sdp)
        remoteSdp = split.sdp
        yield* Effect.forEach(split.candidates, state.trickle.addRemote, { discard: true })
      }
      const sent = { sdp: "" }
      const peer = yield* createPeer(state, described, sent)
      yield* peer.acceptOffer(remoteSdp)
      const sdp = yield* peer.createAnswer
      yield* signaling.send(state.remote, "ANSWER", { connection_id: offer.connectionId, sdp }, offer.id)
      sent.sdp = sdp
      yield* Deferred.succeed(described, undefined)
      if (prepared.holdRemoteCandidates) {
        yield* peer.ice.until((s) => s === "connected" || s === "completed" || s === "failed" || s === "closed").pipe(
          Effect.timeoutOption(HOLD_CANDIDATES_MS),
          Effect.andThen(state.trickle.release),
          Effect.forkScoped
        )
      }
      const control = peer.remoteChannels.pipe(
        Stream.filter((channel) => channel.label === CONTROL_LABEL),
        Stream.runHead,
        Effect.map(Option.getOrThrow)
      )
      const channel = yield* awaitOpen(state, peer, control)
      return { number, peer, control: channel, scope } satisfies LinkChannel.Generation
    }).pipe(Scope.provide(scope), Effect.onError(() => Scope.close(scope, Exit.void)))

  return { offerGeneration, answerGeneration, acceptedCandidates, answerTo }
}
