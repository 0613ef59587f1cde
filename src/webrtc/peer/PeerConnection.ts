/**
 * A peer connection whose lifecycles are checked state machines.
 *
 * Every operation is checked against the machines before it reaches the WebRTC stack, so a
 * second offer while one is pending, an answer without a remote offer or anything on a closed
 * connection is a typed `InvalidTransition`, never a throw and never a silent no-op. Events from
 * the stack pass through one queue, in order; an event the machine does not allow moves the
 * connection to `failed` and is logged, instead of failing an unrelated caller.
 *
 * The connection owns its machines: others read them (`MachineView`) and ask for changes by name
 * (what the link's liveness check heard, an ICE restart), and it applies the transitions, one at a
 * time, so that a change decided on the current state still holds when it is applied.
 *
 * @since 0.1.0
 */
import { Clock, Duration, Effect, Option, Queue, Schema, Scope, Semaphore, Stream, SubscriptionRef } from "effect"
import type { DataChannelConfig } from "../../protocol/DataChannelConfig.ts"
import * as DataChannel from "./DataChannel.ts"
import * as PeerStates from "./PeerStates.ts"
import * as StateMachine from "../../machine/StateMachine.ts"
import type { Fingerprint, SelectedPair, TransportPeer } from "./Transport.ts"

/** The WebRTC stack refused an operation. */
export class RtcError extends Schema.TaggedError<RtcError>()("RtcError", {
  operation: Schema.String,
  reason: Schema.String
}) {}

/** A local ICE candidate to trickle to the peer; `candidate: ""` ends a generation. */
export interface IceCandidate {
  readonly candidate: string
  readonly sdpMid?: string | undefined
  readonly sdpMLineIndex?: number | undefined
  readonly usernameFragment?: string | undefined
}

/** Counters and the selected path of a connection. */
export interface PeerStats {
  readonly channels: ReadonlyArray<DataChannel.ChannelStats>
  readonly selectedPair: SelectedPair | undefined
}

/** A peer connection with checked lifecycles. */
export interface PeerConnection {
  readonly connection: StateMachine.MachineView<RTCPeerConnectionState>
  readonly ice: StateMachine.MachineView<RTCIceConnectionState>
  readonly signaling: StateMachine.MachineView<PeerStates.SignalingMachineState>
  /** Creates and applies a local offer; returns its SDP. */
  readonly createOffer: Effect.Effect<string, StateMachine.InvalidTransition | RtcError>
  /**
   * Creates and applies an offer that restarts ICE (new ICE credentials, same DTLS and SCTP
   * associations); returns its SDP. A `failed` connection is `connecting` again. Only where the
   * stack supports it (`Transport.supportsIceRestart`).
   */
  readonly createRestartOffer: Effect.Effect<string, StateMachine.InvalidTransition | RtcError>
  /** Applies the remote offer of an ICE restart: a `failed` connection is `connecting` again. */
  readonly acceptRestartOffer: (sdp: string) => Effect.Effect<void, StateMachine.InvalidTransition | RtcError>
  /** Once an ICE restart's offer and answer are both applied: starts its checks where the stack needs telling. */
  readonly startRestartedIce: Effect.Effect<void>
  /** Applies the remote offer. */
  readonly acceptOffer: (sdp: string) => Effect.Effect<void, StateMachine.InvalidTransition | RtcError>
  /** Creates and applies the local answer; returns its SDP. */
  readonly createAnswer: Effect.Effect<string, StateMachine.InvalidTransition | RtcError>
  /** Applies the remote answer. */
  readonly acceptAnswer: (sdp: string) => Effect.Effect<void, StateMachine.InvalidTransition | RtcError>
  /** Rolls back a pending offer (local or remote) to `stable`, where the stack supports it. */
  readonly rollback: Effect.Effect<void, StateMachine.InvalidTransition | RtcError>
  /** Adds a remote candidate: applied now if the remote description is set, else once it is. */
  readonly addRemoteCandidate: (candidate: IceCandidate) => Effect.Effect<void, StateMachine.InvalidTransition | RtcError>
  /** Local candidates as the stack finds them (one consumer). */
  readonly localCandidates: Stream.Stream<IceCandidate>
  /** Creates a data channel (allowed from `new` on; it opens once the transport is up). */
  readonly createDataChannel: (config: DataChannelConfig) => Effect.Effect<DataChannel.DataChannel, StateMachine.InvalidTransition | RtcError>
  /** Channels the remote side opened (one consumer). */
  readonly remoteChannels: Stream.Stream<DataChannel.DataChannel>
  /** A channel of this connection by label or by id. */
  readonly channel: (key: string | number) => Effect.Effect<Option.Option<DataChannel.DataChannel>>
  /** Closes the connection; closing again does nothing more. */
  readonly close: Effect.Effect<void>
  /**
   * The peer was silent past the liveness timeout (see `EnvelopeChannel`): the connection is
   * `failed`, unless it is already or closed. True when it changed.
   */
  readonly silentPastTimeout: Effect.Effect<boolean>
  /** The peer was silent for half the liveness timeout: a `connected` connection is `disconnected`. */
  readonly silentPastHalfTimeout: Effect.Effect<void>
  /**
   * The peer was heard within half the liveness timeout: a `disconnected`, `connecting` or `failed`
   * connection (a restart that worked) is `connected` again.
   */
  readonly heard: Effect.Effect<void>
  readonly isConnected: Effect.Effect<boolean>
  readonly age: Effect.Effect<Duration.Duration>
  readonly stats: Effect.Effect<PeerStats>
  /** The certificate fingerprint the peer presented in DTLS, once connected. */
  readonly remoteFingerprint: () => Fingerprint | undefined
  /** The largest message a channel of this connection carries: the lower of both sides' limits. */
  readonly maxMessageSize: Effect.Effect<number>
  /** The remote description applied (fails when there is none yet). */
  readonly remoteSdp: Effect.Effect<string, RtcError>
}

type StackEvent =
  | { readonly _tag: "Connection"; readonly state: RTCPeerConnectionState }
  | { readonly _tag: "Ice"; readonly state: RTCIceConnectionState }
  | { readonly _tag: "Candidate"; readonly candidate: IceCandidate }
  | { readonly _tag: "Channel"; readonly channel: RTCDataChannel; readonly early: DataChannel.EarlyMessages }

const rtc = <A>(operation: string, run: () => Promise<A> | A) =>
  Effect.tryPromise({
    try: async () => await run(),
    catch: (cause) => new RtcError({ operation, reason: cause instanceof Error ? cause.message : String(cause) })
  })

/** A peer connection over a stack's connection; it closes with the scope. */
export const make = (
  peer: TransportPeer,
  options: {
    readonly maxMessageSize: number
    /** The stack copies a message's bytes when `send` is called (`Transport.sendCopiesData`). */
    readonly sendCopiesData?: boolean | undefined
  }
): Effect.Effect<PeerConnection, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { pc } = peer
    const createdAt = yield* Clock.currentTimeMillis
    const connection = yield* StateMachine.makeRef(PeerStates.connection)
    const ice = yield* StateMachine.makeRef(PeerStates.ice)
    const signaling = yield* StateMachine.makeRef(PeerStates.signaling)
    const events = yield* Queue.unbounded<StackEvent>()
    const candidates = yield* Queue.unbounded<IceCandidate>()
    const remoteChannels = yield* Queue.unbounded<DataChannel.DataChannel>()
    const channels: Array<DataChannel.DataChannel> = []
    // The peer's SCTP limit from its description (RFC 8841: 64 KiB when it says none).
    let remoteMaxMessageSize: number | undefined
    const maxMessageSize = () => Math.min(options.maxMessageSize, remoteMaxMessageSize ?? options.maxMessageSize)
    const pendingRemoteCandidates: Array<IceCandidate> = []
    const operations = yield* Semaphore.make(1)
    // Changes of the connection and ICE machines, one at a time (stack events, liveness, close).
    const writes = yield* Semaphore.make(1)
    const scope = yield* Effect.scope

    // Stack events, in the order they happened, into one queue.
    pc.addEventListener("connectionstatechange", () => Queue.offerUnsafe(events, { _tag: "Connection", state: pc.connectionState }))
    pc.addEventListener("iceconnectionstatechange", () => Queue.offerUnsafe(events, { _tag: "Ice", state: pc.iceConnectionState }))
    pc.addEventListener("icecandidate", (event) => {
      const candidate = (event as RTCPeerConnectionIceEvent).candidate
      Queue.offerUnsafe(events, {
        _tag: "Candidate",
        candidate: candidate === null || candidate === undefined
          ? { candidate: "", sdpMid: "0", sdpMLineIndex: 0 }
          : {
            candidate: candidate.candidate,
            sdpMid: candidate.sdpMid ?? undefined,
            sdpMLineIndex: candidate.sdpMLineIndex ?? undefined,
            usernameFragment: candidate.usernameFragment ?? undefined
          }
      })
    })
    pc.addEventListener("datachannel", (event) => {
      const channel = (event as RTCDataChannelEvent).channel
      // Messages can arrive before the queued event is handled: hold them from now on.
      Queue.offerUnsafe(events, { _tag: "Channel", channel, early: DataChannel.holdEarly(channel) })
    })

    /**
     * A change the machines refuse (an unexpected event from the stack): it is logged, and the
     * connection fails unless it is closed (then it stays closed and the event came too late).
     */
    const refused = (error: StateMachine.InvalidTransition): Effect.Effect<void> =>
      Effect.gen(function*() {
        yield* Effect.logWarning("peer connection: unexpected event from the WebRTC stack", error.message)
        if ((yield* SubscriptionRef.get(connection.state)) !== "closed") yield* connection.apply("failed")
      }).pipe(Effect.catch((error) => Effect.logError("peer connection: could not fail the connection", error.message)))
    /** Applies `events` to `machine` in turn, with no other change in between; a refusal goes to `refused`. */
    const drive = <S extends string, E extends string>(machine: StateMachine.MachineRef<S, E>, ...events: ReadonlyArray<E>): Effect.Effect<void> =>
      writes.withPermits(1)(Effect.forEach(events, machine.apply, { discard: true }).pipe(Effect.catch(refused)))
    /** The events `decide` picks for the connection's current state, applied with no other change in between. */
    const driveConnection = (decide: (state: RTCPeerConnectionState) => ReadonlyArray<PeerStates.ConnectionEvent>) =>
      writes.withPermits(1)(Effect.gen(function*() {
        const events = decide(yield* SubscriptionRef.get(connection.state))
        yield* Effect.forEach(events, connection.apply, { discard: true })
        return events.length > 0
      })).pipe(Effect.catch((error) => Effect.as(refused(error), true)))
    const handle = (event: StackEvent): Effect.Effect<void, never, Scope.Scope> => {
      switch (event._tag) {
        case "Connection":
          return event.state === "new" ? Effect.void : drive(connection, event.state)
        case "Ice":
          return event.state === "new" ? Effect.void : drive(ice, event.state)
        case "Candidate":
          return Effect.asVoid(Queue.offer(candidates, event.candidate))
        case "Channel":
          return Effect.gen(function*() {
            const channel = yield* DataChannel.wrap(event.channel, maxMessageSize, event.early, { sendCopies: options.sendCopiesData === true }).pipe(Scope.provide(scope))
            channels.push(channel)
            yield* Queue.offer(remoteChannels, channel)
          })
      }
    }
    yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(events), handle)))

    /** Runs an operation after checking the signaling machine allows `event`, then records it. */
    const guarded = <A>(event: PeerStates.SignalingEvent, operation: Effect.Effect<A, RtcError>) =>
      operations.withPermits(1)(
        Effect.gen(function*() {
          yield* signaling.check(event)
          const result = yield* operation
          yield* signaling.apply(event)
          return result
        })
      )

    const flushCandidates = Effect.gen(function*() {
      const queued = pendingRemoteCandidates.splice(0)
      for (const candidate of queued) yield* addCandidate(candidate)
    })
    const addCandidate = (candidate: IceCandidate) =>
      rtc("addIceCandidate", () =>
        pc.addIceCandidate({
          candidate: candidate.candidate,
          ...(candidate.sdpMid === undefined ? {} : { sdpMid: candidate.sdpMid }),
          ...(candidate.sdpMLineIndex === undefined ? {} : { sdpMLineIndex: candidate.sdpMLineIndex }),
          ...(candidate.usernameFragment === undefined ? {} : { usernameFragment: candidate.usernameFragment })
        }))

    const notClosed = Effect.flatMap(SubscriptionRef.get(connection.state), (state) =>
      state === "closed"
        ? Effect.fail(new StateMachine.InvalidTransition({ machine: "connection", state, event: "operation" }))
        : Effect.void)

    const localSdp = (operation: string) =>
      Effect.flatMap(Effect.sync(() => pc.localDescription?.sdp), (sdp) =>
        sdp === undefined ? Effect.fail(new RtcError({ operation, reason: "no local description" })) : Effect.succeed(sdp))

    /** Creates a local offer or answer and applies it; returns its SDP. */
    const createLocal = (event: PeerStates.SignalingEvent, operation: "createOffer" | "createAnswer", options?: RTCOfferOptions) =>
      Effect.andThen(
        notClosed,
        guarded(event, Effect.gen(function*() {
          const description = yield* rtc(operation, () => operation === "createOffer" && options !== undefined ? pc.createOffer(options) : pc[operation]())
          yield* rtc("setLocalDescription", () => pc.setLocalDescription(description))
          return yield* localSdp(operation)
        }))
      )
    /** Applies a remote offer or answer, then the candidates that waited for it. */
    const applyRemote = (event: PeerStates.SignalingEvent, type: "offer" | "answer") => (sdp: string) =>
      Effect.andThen(
        notClosed,
        guarded(event, rtc("setRemoteDescription", () => pc.setRemoteDescription({ type, sdp })))
      ).pipe(
        Effect.tap(() => Effect.sync(() => {
          const announced = /^a=max-message-size:(\d+)\r?$/m.exec(sdp)?.[1]
          remoteMaxMessageSize = announced === undefined ? 65_536 : Number(announced) === 0 ? Number.MAX_SAFE_INTEGER : Number(announced)
        })),
        Effect.andThen(flushCandidates)
      )

    // Every state but `closed` allows these; `operations` and `writes` keep others out meanwhile.
    const close = operations.withPermits(1)(writes.withPermits(1)(
      Effect.gen(function*() {
        if ((yield* SubscriptionRef.get(connection.state)) === "closed") return
        yield* Effect.gen(function*() {
          yield* signaling.apply("close")
          yield* ice.apply("closed")
          yield* connection.apply("closed")
        }).pipe(Effect.catch((error) => Effect.logError("peer connection: close refused by its machines", error.message)))
        yield* Effect.sync(() => pc.close())
      })
    ))

    /** An ICE restart begins: a `failed` connection is `connecting` again. */
    const restarting = driveConnection((state) => (state === "failed" ? ["connecting"] : []))
    yield* Effect.addFinalizer(() => close)

    const acceptOffer = applyRemote("setRemoteOffer", "offer")

    return {
      connection: StateMachine.view(connection),
      ice: StateMachine.view(ice),
      signaling: StateMachine.view(signaling),
      createOffer: createLocal("setLocalOffer", "createOffer"),
      createRestartOffer: Effect.andThen(restarting, createLocal("setLocalOffer", "createOffer", { iceRestart: true })),
      acceptRestartOffer: (sdp) => Effect.andThen(restarting, acceptOffer(sdp)),
      startRestartedIce: Effect.sync(() => peer.startRestartedIce?.()),
      acceptOffer,
      createAnswer: createLocal("setLocalAnswer", "createAnswer"),
      acceptAnswer: applyRemote("setRemoteAnswer", "answer"),
      rollback: Effect.andThen(
        notClosed,
        guarded("rollback", Effect.gen(function*() {
          const state = yield* SubscriptionRef.get(signaling.state)
          yield* state === "have-local-offer"
            ? rtc("setLocalDescription", () => pc.setLocalDescription({ type: "rollback" }))
            : rtc("setRemoteDescription", () => pc.setRemoteDescription({ type: "rollback" }))
        }))
      ),
      addRemoteCandidate: (candidate) =>
        Effect.andThen(notClosed, Effect.suspend(() => {
          if (pc.remoteDescription === null || pc.remoteDescription === undefined) {
            pendingRemoteCandidates.push(candidate)
            return Effect.void
          }
          return addCandidate(candidate)
        })),
      localCandidates: Stream.fromQueue(candidates),
      createDataChannel: (config) =>
        Effect.andThen(
          notClosed,
          Effect.gen(function*() {
            const init: RTCDataChannelInit = {
              ...(config.ordered === undefined ? {} : { ordered: config.ordered }),
              ...(config.maxRetransmits === undefined ? {} : { maxRetransmits: config.maxRetransmits }),
              ...(config.maxPacketLifeTime === undefined ? {} : { maxPacketLifeTime: config.maxPacketLifeTime }),
              ...(config.protocol === undefined ? {} : { protocol: config.protocol }),
              ...(config.negotiated === undefined ? {} : { negotiated: config.negotiated }),
              ...(config.id === undefined ? {} : { id: config.id })
            }
            const native = yield* rtc("createDataChannel", () => pc.createDataChannel(config.label, init))
            const channel = yield* DataChannel.wrap(native, maxMessageSize, undefined, { sendCopies: options.sendCopiesData === true }).pipe(Scope.provide(scope))
            channels.push(channel)
            return channel
          })
        ),
      remoteChannels: Stream.fromQueue(remoteChannels),
      channel: (key) =>
        Effect.sync(() => Option.fromUndefinedOr(channels.find((c) => (typeof key === "string" ? c.label === key : c.id() === key)))),
      close,
      silentPastTimeout: driveConnection((state) => (state === "failed" || state === "closed" ? [] : ["failed"])),
      silentPastHalfTimeout: Effect.asVoid(driveConnection((state) => (state === "connected" ? ["disconnected"] : []))),
      heard: Effect.asVoid(driveConnection((state) =>
        state === "failed" ? ["connecting", "connected"] : state === "disconnected" || state === "connecting" ? ["connected"] : [])),
      isConnected: Effect.map(SubscriptionRef.get(connection.state), (state) => state === "connected"),
      age: Effect.map(Clock.currentTimeMillis, (now) => Duration.millis(now - createdAt)),
      stats: Effect.gen(function*() {
        return {
          channels: yield* Effect.forEach(channels, (channel) => channel.stats),
          selectedPair: yield* peer.selectedPair().pipe(Effect.catchCause(() => Effect.succeed(undefined)))
        }
      }),
      remoteFingerprint: peer.remoteFingerprint,
      maxMessageSize: Effect.sync(maxMessageSize),
      remoteSdp: Effect.flatMap(Effect.sync(() => pc.remoteDescription?.sdp), (sdp) =>
        sdp === undefined ? Effect.fail(new RtcError({ operation: "remoteSdp", reason: "no remote description" })) : Effect.succeed(sdp))
    } satisfies PeerConnection
  })



