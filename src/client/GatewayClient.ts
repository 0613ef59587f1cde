/**
 * The agent side of the gateway protocol (PROTOCOL.md sections 2 to 4), as a scoped service.
 *
 * It connects (trying the configured URLs in turn), answers the CHALLENGE, pins the gateway's
 * DID, registers, keeps the session alive with heartbeats and, when the connection drops,
 * reconnects on a `Schedule` and registers again. Frames sent meanwhile wait in a bounded queue
 * and are signed only when they are written. Every incoming frame passes `Accept.accept` before
 * anyone sees it. Browser-safe: the WebSocket comes from `Socket.WebSocketConstructor`.
 *
 * @since 0.1.0
 */
import {
  Context,
  Deferred,
  Effect,
  Fiber,
  Layer,
  Option,
  Queue,
  Ref,
  Result,
  Schedule,
  Schema,
  Scope,
  Stream,
  SubscriptionRef
} from "effect"
import * as Socket from "effect/socket/Socket"
import * as Accept from "../protocol/Accept.ts"
import type { Did } from "../protocol/Did.ts"
import { boundedMemo } from "../util/BoundedMemo.ts"
import { isLoopbackUrl } from "../util/LoopbackUrl.ts"
import * as Envelope from "../protocol/Envelope.ts"
import { CloseCode, SUBPROTOCOL } from "../protocol/GatewaySocket.ts"
import * as Heartbeat from "../protocol/Heartbeat.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as ReplayGuard from "../protocol/ReplayGuard.ts"
import * as StateMachine from "../machine/StateMachine.ts"
import * as ClientStates from "./ClientState.ts"
import * as Backoff from "./Backoff.ts"
import { KnownGateways } from "./KnownGateways.ts"

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** A `ws://` URL to a host that is not loopback, without `allowInsecure`. */
export class InsecureGatewayUrl extends Schema.TaggedError<InsecureGatewayUrl>()("InsecureGatewayUrl", {
  url: Schema.String
}) {
  override get message() {
    return `refusing ${this.url}: use wss:// (ws:// is only for loopback, or set allowInsecure)`
  }
}

/** The gateway presented another DID than the one pinned for its address. */
export class GatewayIdentityMismatch extends Schema.TaggedError<GatewayIdentityMismatch>()("GatewayIdentityMismatch", {
  url: Schema.String,
  pinned: Schema.String,
  presented: Schema.String
}) {
  override get message() {
    return `gateway at ${this.url} is ${this.presented}, but ${this.pinned} is pinned for it`
  }
}

/** The connection failed or dropped (retried automatically). */
export class ConnectionLost extends Schema.TaggedError<ConnectionLost>()("ConnectionLost", {
  url: Schema.String,
  reason: Schema.String,
  /** Whether the session had registered before it was lost. */
  registered: Schema.Boolean
}) {}

/** The gateway refused the registration (retried automatically). */
export class RegistrationRefused extends Schema.TaggedError<RegistrationRefused>()("RegistrationRefused", {
  url: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {}

/** Another connection registered this DID (close 4001). Final: the client does not reconnect. */
export class SessionReplaced extends Schema.TaggedError<SessionReplaced>()("SessionReplaced", {}) {
  override get message() {
    return "another process registered this DID; this client stopped (one live process per DID)"
  }
}

/** With `failFast`: the first attempt at every URL failed before any registration. Final. */
export class GatewayUnreachable extends Schema.TaggedError<GatewayUnreachable>()("GatewayUnreachable", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot reach the gateway at ${this.url}: ${this.reason}`
  }
}

/** The client was closed. */
export class ClientClosed extends Schema.TaggedError<ClientClosed>()("ClientClosed", {}) {}

/** The send queue is full: the gateway is unreachable and `sendQueueCapacity` frames wait already. */
export class SendQueueFull extends Schema.TaggedError<SendQueueFull>()("SendQueueFull", {
  capacity: Schema.Number
}) {}

/** A frame could not be written before its deadline (the gateway stayed unreachable). */
export class SendTimeout extends Schema.TaggedError<SendTimeout>()("SendTimeout", {
  deadlineMs: Schema.Number
}) {}

/** No answer to a request within its timeout. */
export class RequestTimeout extends Schema.TaggedError<RequestTimeout>()("RequestTimeout", {
  type: Schema.String,
  timeoutMs: Schema.Number
}) {}

/** The destination of a frame is not registered at the gateway. */
export class UnknownAgent extends Schema.TaggedError<UnknownAgent>()("UnknownAgent", {
  correlationId: Schema.String
}) {}

/** The gateway answered a request with an ERROR. */
export class GatewayRefused extends Schema.TaggedError<GatewayRefused>()("GatewayRefused", {
  code: Schema.String,
  reason: Schema.String
}) {}

/** Why the client stopped for good (`InvalidTransition`: its lifecycle went wrong, a bug). */
export type FatalError =
  | InsecureGatewayUrl
  | GatewayIdentityMismatch
  | SessionReplaced
  | GatewayUnreachable
  | ClientClosed
  | StateMachine.InvalidTransition

/** Why a frame could not be sent. */
export type SendError = SendQueueFull | SendTimeout | FatalError

/** Why a request failed. */
export type RequestError = SendError | RequestTimeout | UnknownAgent | GatewayRefused

// ---------------------------------------------------------------------------
// Configuration and state
// ---------------------------------------------------------------------------

/** How a client connects and behaves. */
export interface GatewayClientConfig {
  /** Gateway URLs, tried in turn (failover). */
  readonly urls: ReadonlyArray<string>
  readonly identity: Identity.Identity
  readonly capabilities?: ReadonlyArray<Envelope.Capability>
  readonly name?: string
  readonly unlisted?: boolean
  /** The gateway DID to expect; otherwise pinned on first use in `KnownGateways`. */
  readonly gatewayDid?: string
  /** Allow `ws://` to hosts that are not loopback. */
  readonly allowInsecure?: boolean
  /**
   * For one-shot uses (a CLI command): when the first attempt at each URL fails before the client
   * ever registered, stop with `GatewayUnreachable` (the last URL and why) instead of retrying.
   * Once registered, a lost connection is retried as usual. Default: false.
   */
  readonly failFast?: boolean
  /** Delays between reconnection attempts (default: the first uniform over 0–2 s, then from 1 s doubling, capped at 4 s, 50–100 % at random, forever; see `Backoff`). */
  readonly reconnect?: Schedule.Schedule<unknown, unknown>
  readonly openTimeoutMs?: number
  readonly handshakeTimeoutMs?: number
  readonly sendQueueCapacity?: number
  /** How long a frame may wait for a connection before `send` fails with `SendTimeout`. */
  readonly sendDeadlineMs?: number
  readonly requestTimeoutMs?: number
  readonly skewMs?: number
  /** Incoming relayed frames buffered for slow subscribers before new ones are dropped (and counted). */
  readonly incomingCapacity?: number
}

/** What the gateway said in REGISTERED. */
export interface SessionInfo {
  readonly url: string
  readonly gatewayDid: string
  readonly sessionId: string
  readonly heartbeatIntervalMs: number
  readonly sessionTimeoutMs: number
  readonly maxMessageBytes: number
  readonly iceServers: ReadonlyArray<Envelope.IceServer>
}

/** The connection lifecycle of a client: the states of `ClientState.machine`, with their data. */
export type ClientState =
  | { readonly _tag: "Disconnected" }
  | { readonly _tag: "Connecting"; readonly url: string }
  | { readonly _tag: "Registered"; readonly session: SessionInfo }
  | { readonly _tag: "Reconnecting"; readonly error: ConnectionLost | RegistrationRefused }
  | { readonly _tag: "Closed"; readonly error: FatalError }

/** A relayed frame the gateway could not deliver (an ERROR correlated to it). */
export interface Undelivered {
  readonly id: string
  readonly to: string
  readonly type: Envelope.Type
  readonly connectionId: string | undefined
  readonly code: string
}

/** The types a client relays to other agents. */
export type RelayedType = Envelope.RelayedType

/** The agent side of a gateway session. */
export class GatewayClient extends Context.Service<GatewayClient, {
  readonly did: Did
  /** The lifecycle's current state (read-only: only the client moves its machine). */
  readonly state: Effect.Effect<ClientState>
  /** The current state, then each change. */
  readonly changes: Stream.Stream<ClientState>
  /** The current session, waiting for registration if needed. */
  readonly session: Effect.Effect<SessionInfo, FatalError>
  /** Relays a frame to another agent; completes when it is written, with the envelope's id. */
  readonly send: <T extends RelayedType>(
    to: Did,
    type: T,
    payload: Envelope.Payload<T>,
    correlationId?: string
  ) => Effect.Effect<string, SendError>
  /** DISCOVER, one page. */
  readonly discover: (query: Envelope.Payload<"DISCOVER">) => Effect.Effect<Envelope.Payload<"PEERS">, RequestError>
  /** Verified relayed frames from other agents (one consumer: frames wait for it). */
  readonly incoming: Stream.Stream<Accept.Accepted<RelayedType>>
  /** Relayed frames the gateway answered with an ERROR (e.g. UNKNOWN_AGENT). */
  readonly undelivered: Stream.Stream<Undelivered>
  /** Incoming frames refused so far (never delivered). */
  readonly rejected: Effect.Effect<number>
  /** Why incoming frames were refused, as they are (one consumer; the newest are dropped if it lags). */
  readonly rejections: Stream.Stream<Accept.EnvelopeRejected>
  /** UNREGISTER, then close; the client is done. */
  readonly close: Effect.Effect<void>
}>()("aiconexus/client/GatewayClient") {
  /** A client for `config`; it starts connecting at once and stops with the scope. */
  static readonly layer = (config: GatewayClientConfig) => Layer.effect(GatewayClient, make(config))
}

const GATEWAY_TYPES: ReadonlySet<string> = new Set(["PONG", "PEERS", "ERROR"])

/** The default reconnection delays: at most 4 s apart, randomized (see `Backoff`). */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Backoff.defaultReconnect

interface Outgoing {
  readonly draft: Envelope.Draft<Envelope.Type>
  /** Completed with the envelope id once written; failed when it can no longer be. */
  readonly written: Deferred.Deferred<string, SendError>
  /** For requests: the answer, keyed by the envelope id once signed. */
  readonly reply?: Deferred.Deferred<Envelope.Envelope, UnknownAgent | GatewayRefused> | undefined
}

const isFatal = (error: unknown): error is FatalError =>
  error instanceof InsecureGatewayUrl || error instanceof GatewayIdentityMismatch ||
  error instanceof SessionReplaced || error instanceof GatewayUnreachable || error instanceof ClientClosed ||
  error instanceof StateMachine.InvalidTransition

/** Why a socket failed, with the platform's detail when it gives one (ECONNREFUSED, HTTP 404, TLS, DNS). */
const socketFailure = (error: Socket.SocketError): string => {
  const cause = "cause" in error.reason
    ? error.reason.cause as { readonly message?: unknown; readonly error?: { readonly message?: unknown; readonly code?: unknown } }
    : undefined
  const raw = cause?.error?.message ?? cause?.message
  if (typeof raw !== "string" || raw === "") return error.message
  const detail = raw.split("\n")[0]!.slice(0, 200)
  const code = String(cause?.error?.code ?? "")
  const kind = code === "ECONNREFUSED" ? "connection refused"
    : code === "ENOTFOUND" || code === "EAI_AGAIN" ? "DNS lookup failed"
    : code === "EPROTO" || code.startsWith("ERR_SSL") || code.includes("CERT") ? "TLS error"
    : /^Unexpected server response: (\d+)/.test(detail) ? `HTTP ${/(\d+)/.exec(detail)![1]} instead of a WebSocket upgrade`
    : undefined
  return kind === undefined ? detail : `${kind} (${detail})`
}

/** Builds a client; its connection loop runs in the current scope. */
export const make = Effect.fnUntraced(function*(config: GatewayClientConfig) {
  const knownGateways = yield* KnownGateways
  const scope = yield* Effect.scope
  const identity = config.identity
  const skewMs = config.skewMs ?? 60_000
  const sendQueueCapacity = config.sendQueueCapacity ?? 1024
  const sendDeadlineMs = config.sendDeadlineMs ?? 30_000
  const requestTimeoutMs = config.requestTimeoutMs ?? 10_000
  const handshakeTimeoutMs = config.handshakeTimeoutMs ?? 10_000
  const openTimeoutMs = config.openTimeoutMs ?? 10_000

  const state = yield* SubscriptionRef.make<ClientState>({ _tag: "Disconnected" })
  const outbox = yield* Queue.dropping<Outgoing>(sendQueueCapacity)
  // Queues, not PubSubs: frames wait for their (single) consumer instead of vanishing before it
  // subscribed; a consumer that does not keep up loses the newest ones, counted in `rejected`.
  const incoming = yield* Queue.dropping<Accept.Accepted<RelayedType>>(config.incomingCapacity ?? 1024)
  const undelivered = yield* Queue.dropping<Undelivered>(1024)
  const rejected = yield* Ref.make(0)
  const rejections = yield* Queue.dropping<Accept.EnvelopeRejected>(256)
  const pending = new Map<string, Deferred.Deferred<Envelope.Envelope, UnknownAgent | GatewayRefused>>()
  const relayedSent = boundedMemo<string, Omit<Undelivered, "code">>(4096)
  const replay = ReplayGuard.make({ maxPerSender: 4096, maxTotal: 65536 })
  let urlIndex = 0
  let everRegistered = false

  /**
   * Every state change: `event` must be allowed in the current state (else `InvalidTransition`),
   * and leads to `next`. A transition that stays where it is (closing a closed client) keeps the state as it is.
   */
  const move = <E extends ClientStates.Event>(event: E, next: Extract<ClientState, { readonly _tag: ClientStates.Target<E> }>) =>
    SubscriptionRef.modifyEffect(state, (current) => {
      const phase = StateMachine.transition(ClientStates.machine, current._tag, event)
      if (Result.isFailure(phase)) return Effect.fail(phase.failure)
      const entered: ClientState = phase.success === current._tag ? current : next
      return Effect.succeed([entered, entered] as const)
    })
  /** Where no caller can take a failure (the loop's end, `close`): an invalid transition is logged as the bug it is. */
  const logInvalid = (error: StateMachine.InvalidTransition) => Effect.logError("gateway client: invalid state transition", error.message)

  // -------------------------------------------------------------------------
  // One connection
  // -------------------------------------------------------------------------

  /** Connects to `url`, registers, and serves until the connection ends (always fails). */
  const connection = (url: string) =>
    Effect.gen(function*() {
      if (!url.startsWith("wss://") && !(url.startsWith("ws://") && (config.allowInsecure === true || isLoopbackUrl(url)))) {
        return yield* new InsecureGatewayUrl({ url })
      }
      yield* move("connect", { _tag: "Connecting", url })
      const lost = (reason: string, registered = false) => new ConnectionLost({ url, reason, registered })
      const socket = yield* Socket.makeWebSocket(url, { protocols: [SUBPROTOCOL], openTimeout: openTimeoutMs })
      const reader = yield* socket.reader.pipe(Effect.mapError((error) => lost(socketFailure(error))))
      const writer = yield* socket.writer
      const write = (frame: string) => writer.write(frame).pipe(Effect.mapError((error) => lost(error.message, true)))
      const pinned = config.gatewayDid ?? Option.getOrUndefined(yield* knownGateways.get(url).pipe(Effect.orElseSucceed(Option.none)))

      /** Frames as they come, ending in the reason the socket closed. */
      const pull = reader.pull.pipe(
        Effect.catchTag("SocketError", (error): Effect.Effect<never, ConnectionLost | SessionReplaced> =>
          error.reason._tag === "SocketCloseError" && error.reason.code === CloseCode.sessionReplaced
            ? Effect.fail(new SessionReplaced())
            : Effect.fail(lost(socketFailure(error))))
      )
      const frames: Array<string | Uint8Array> = []
      const nextFrame = Effect.gen(function*() {
        while (frames.length === 0) frames.push(...(yield* pull))
        return frames.shift()!
      })

      // Handshake: CHALLENGE → REGISTER → REGISTERED.
      const handshake = Effect.gen(function*() {
        const challenge = yield* Accept.accept(yield* nextFrame, {
          maxFrameBytes: 16 * 1024,
          skewMs,
          refuseType: (type) => (type === "CHALLENGE" ? undefined : "UNSUPPORTED_TYPE"),
          checkTo: (header) => Effect.succeed(header.to === undefined),
          replay
        }).pipe(Effect.mapError((rejection) => lost(`bad CHALLENGE: ${rejection.message}`)))
        // `refuseType` let only a CHALLENGE through; the check narrows its type.
        if (challenge.envelope.type !== "CHALLENGE") return yield* lost(`expected CHALLENGE, got ${challenge.envelope.type}`)
        const gatewayDid = challenge.envelope.from
        if (pinned !== undefined && pinned !== gatewayDid) {
          return yield* new GatewayIdentityMismatch({ url, pinned, presented: gatewayDid })
        }
        const register = yield* Envelope.make(identity, {
          type: "REGISTER",
          to: gatewayDid,
          payload: {
            nonce: challenge.envelope.payload.nonce,
            endpoint: url,
            capabilities: [...(config.capabilities ?? [])],
            ...(config.name === undefined ? {} : { name: config.name }),
            ...(config.unlisted === undefined ? {} : { unlisted: config.unlisted })
          }
        }).pipe(Effect.orDie)
        yield* write(Envelope.encode(register))
        const answer = yield* Accept.accept(yield* nextFrame, {
          maxFrameBytes: 1024 * 1024,
          skewMs,
          refuseType: (type) => (type === "REGISTERED" || type === "ERROR" ? undefined : "UNSUPPORTED_TYPE"),
          expectedFrom: gatewayDid,
          checkTo: (header) => Effect.succeed(header.to === identity.did),
          replay
        }).pipe(Effect.mapError((rejection) => lost(`bad answer to REGISTER: ${rejection.message}`)))
        if (answer.envelope.type === "ERROR") {
          const error = answer.envelope.payload
          return yield* new RegistrationRefused({ url, code: error.code, reason: error.message })
        }
        // `refuseType` let only REGISTERED or ERROR through; the check narrows the type.
        if (answer.envelope.type !== "REGISTERED") return yield* lost(`expected REGISTERED, got ${answer.envelope.type}`)
        if (pinned === undefined) yield* Effect.ignore(knownGateways.pin(url, gatewayDid))
        const registered = answer.envelope.payload
        return {
          url,
          gatewayDid,
          sessionId: registered.session_id,
          heartbeatIntervalMs: registered.heartbeat_interval_ms,
          sessionTimeoutMs: registered.session_timeout_ms,
          maxMessageBytes: registered.max_message_bytes,
          iceServers: registered.ice_servers
        } satisfies SessionInfo
      }).pipe(
        Effect.timeoutOrElse({
          duration: handshakeTimeoutMs,
          orElse: () => Effect.fail(lost("no registration within the handshake timeout"))
        })
      )
      const session = yield* handshake
      yield* move("register", { _tag: "Registered", session })
      everRegistered = true
      yield* Effect.logDebug("registered with gateway").pipe(Effect.annotateLogs({ url, session: session.sessionId }))

      // Registered: read, write and keep the session alive until something ends it.
      const lostRegistered = (reason: string) => lost(reason, true)
      const context: Accept.AcceptContext = {
        maxFrameBytes: session.maxMessageBytes,
        skewMs,
        refuseType: (type) =>
          GATEWAY_TYPES.has(type) || Envelope.relayedTypes.has(type as Envelope.Type) ? undefined : "UNSUPPORTED_TYPE",
        // Gateway answers come from the gateway; relayed frames from any agent but the gateway.
        checkFrom: (header) => GATEWAY_TYPES.has(header.type) === (header.from === session.gatewayDid),
        checkTo: (header) => Effect.succeed(header.to === identity.did),
        replay
      }
      // The answer to the heartbeat in flight, completed by the read loop (PROTOCOL.md 4.3).
      let heartbeatAnswer: Deferred.Deferred<void> | undefined
      // A gateway from before the heartbeat frame refuses it (an uncorrelated MALFORMED_MESSAGE):
      // this connection then keeps the session alive with signed PINGs.
      let signedPings = false
      const dispatch = (accepted: Accept.Accepted) =>
        Effect.gen(function*() {
          const { envelope } = accepted
          // Relayed frames go to `incoming`; the rest are the gateway's answers (`context` refuses any other type).
          if (Envelope.isRelayed(envelope)) {
            if (!(yield* Queue.offer(incoming, { envelope, text: accepted.text }))) {
              yield* Ref.update(rejected, (n) => n + 1)
              yield* Effect.logWarning("dropped an incoming frame: nobody consumes `incoming` fast enough")
            }
            return
          }
          const correlated = envelope.correlation_id
          if (correlated === undefined) {
            if (envelope.type === "ERROR" && envelope.payload.code === "MALFORMED_MESSAGE" && heartbeatAnswer !== undefined && !signedPings) {
              signedPings = true
              // A signed answer all the same: the gateway is there.
              yield* Deferred.succeed(heartbeatAnswer, undefined)
            }
            return
          }
          const request = pending.get(correlated)
          if (request !== undefined) {
            pending.delete(correlated)
            if (envelope.type === "ERROR") {
              const error = envelope.payload
              yield* Deferred.fail(
                request,
                error.code === "UNKNOWN_AGENT"
                  ? new UnknownAgent({ correlationId: correlated })
                  : new GatewayRefused({ code: error.code, reason: error.message })
              )
            } else {
              yield* Deferred.succeed(request, envelope)
            }
            return
          }
          const relayed = relayedSent.get(correlated)
          if (relayed !== undefined && envelope.type === "ERROR") {
            yield* Queue.offer(undelivered, { ...relayed, code: envelope.payload.code })
          }
        })
      /** A short frame, which is never an envelope: the gateway's answer to a heartbeat, or refused. */
      const heartbeatFrame = (frame: string): Result.Result<void, Accept.EnvelopeRejected> => {
        const ack = Heartbeat.readAck(frame)
        if (Result.isFailure(ack)) {
          return Result.fail(new Accept.EnvelopeRejected({ code: "MALFORMED_MESSAGE", step: 2, reason: `not a heartbeat answer: ${ack.failure.reason}` }))
        }
        if (heartbeatAnswer !== undefined) Deferred.doneUnsafe(heartbeatAnswer, Effect.void)
        return Result.void
      }
      const readLoop = Effect.gen(function*() {
        while (true) {
          const frame = yield* nextFrame.pipe(Effect.mapError((error) => error instanceof ConnectionLost ? lostRegistered(error.reason) : error))
          const accepted = typeof frame === "string" && Heartbeat.isShort(frame)
            ? heartbeatFrame(frame)
            : yield* Effect.result(Accept.accept(frame, context))
          if (accepted._tag === "Failure") {
            yield* Ref.update(rejected, (n) => n + 1)
            yield* Queue.offer(rejections, accepted.failure)
            yield* Effect.logWarning("refused an incoming frame").pipe(
              Effect.annotateLogs({ code: accepted.failure.code, reason: accepted.failure.reason })
            )
            continue
          }
          if (accepted.success !== undefined) yield* dispatch(accepted.success)
        }
      })
      const writeLoop = Effect.gen(function*() {
        while (true) {
          const outgoing = yield* Queue.take(outbox)
          // A frame whose sender gave up (deadline) is not sent late.
          if (yield* Deferred.isDone(outgoing.written)) continue
          const envelope = yield* Envelope.make(identity, { ...outgoing.draft, to: outgoing.draft.to ?? session.gatewayDid }).pipe(
            Effect.result
          )
          if (envelope._tag === "Failure") {
            yield* Deferred.die(outgoing.written, envelope.failure)
            continue
          }
          const sent = envelope.success
          if (outgoing.reply !== undefined) pending.set(sent.id, outgoing.reply)
          if (Envelope.relayedTypes.has(sent.type)) {
            const payload = sent.payload as { readonly connection_id?: string }
            relayedSent.set(sent.id, { id: sent.id, to: sent.to!, type: sent.type, connectionId: payload.connection_id })
          }
          const result = yield* Effect.result(write(Envelope.encode(sent)))
          if (result._tag === "Failure") {
            // Not written: put it back in front of the queue's order as best we can, then reconnect.
            pending.delete(sent.id)
            yield* Queue.offer(outbox, outgoing)
            return yield* result.failure
          }
          yield* Deferred.succeed(outgoing.written, sent.id)
        }
      })
      // The unsigned heartbeat frame, written at once (not behind queued envelopes); the gateway
      // answers it with HEARTBEAT_ACK. No answer within an interval (at most 20 s): the gateway is gone.
      const answerMs = Heartbeat.answerWithinMs(session.heartbeatIntervalMs)
      const heartbeat = Effect.gen(function*() {
        while (true) {
          yield* Effect.sleep(session.heartbeatIntervalMs)
          if (signedPings) {
            const answered = yield* Effect.result(request({ type: "PING", payload: {} }, answerMs))
            if (answered._tag === "Success") continue
            if (isFatal(answered.failure)) return yield* answered.failure
            return yield* lostRegistered(`no PONG within ${answerMs} ms`)
          }
          const answer = yield* Deferred.make<void>()
          heartbeatAnswer = answer
          yield* write(Heartbeat.FRAME)
          const answered = yield* Deferred.await(answer).pipe(Effect.timeoutOption(answerMs))
          heartbeatAnswer = undefined
          if (Option.isNone(answered)) return yield* lostRegistered(`no heartbeat answer within ${answerMs} ms`)
        }
      })
      // Whichever ends first (they only end by failing) ends the connection.
      return yield* Effect.raceAllFirst([readLoop, writeLoop, heartbeat])
    }).pipe(Effect.scoped)

  // -------------------------------------------------------------------------
  // Connection loop: reconnect on a schedule, fail over between URLs
  // -------------------------------------------------------------------------

  /** Stands for "wait the schedule's first delay" at the start of a reconnection (never leaves the loop). */
  const WAIT_FIRST = { _tag: "WaitFirst" } as const
  type Attempted = Effect.Error<typeof attempt>

  const nextUrl = () => config.urls[urlIndex++ % config.urls.length]!
  // failFast: failed attempts before the first registration.
  let failedBeforeRegistering = 0
  const attempt = Effect.suspend(() => connection(nextUrl())).pipe(
    Effect.mapError((error) =>
      config.failFast === true && !everRegistered && !isFatal(error) &&
        ++failedBeforeRegistering >= config.urls.length
        ? new GatewayUnreachable({ url: error.url, reason: error instanceof RegistrationRefused ? `registration refused (${error.code}): ${error.reason}` : error.reason })
        : error
    ),
    Effect.tapError((error) => isFatal(error) ? Effect.void : move("drop", { _tag: "Reconnecting", error }))
  )
  const connectionLoop = Effect.gen(function*() {
    // After a registered session is lost, the first reconnection waits the schedule's first delay
    // as well (the default draws it from 0–2 s): agents cut off together do not all dial at once.
    let lost = false
    while (true) {
      let waitFirst = lost
      const result = yield* Effect.suspend((): Effect.Effect<void, Attempted | typeof WAIT_FIRST, Socket.WebSocketConstructor> =>
        waitFirst ? ((waitFirst = false), Effect.fail(WAIT_FIRST)) : attempt
      ).pipe(
        Effect.retry({
          schedule: config.reconnect ?? defaultReconnect,
          // A session that had registered starts a fresh schedule.
          while: (error) => error === WAIT_FIRST || (!isFatal(error) && !(error instanceof ConnectionLost && error.registered))
        }),
        Effect.result
      )
      if (result._tag === "Success") continue
      // A schedule that ends at its first step: dial without waiting.
      if (result.failure === WAIT_FIRST) {
        lost = false
        continue
      }
      if (isFatal(result.failure)) return result.failure
      lost = true
    }
  })

  /** Fails everything waiting once the client stopped for good. */
  const shutdown = (event: "fail" | "close", error: FatalError) =>
    Effect.gen(function*() {
      yield* move(event, { _tag: "Closed", error })
      for (const outgoing of yield* Queue.clear(outbox)) yield* Deferred.fail(outgoing.written, error)
      for (const request of pending.values()) yield* Deferred.fail(request, new GatewayRefused({ code: "CLOSED", reason: error.message }))
      pending.clear()
    })

  const loopFiber = yield* connectionLoop.pipe(
    Effect.flatMap((error) => Effect.andThen(Effect.logWarning("gateway client stopped", error.message), shutdown("fail", error))),
    Effect.catchTag("InvalidTransition", logInvalid),
    Effect.forkIn(scope)
  )

  // -------------------------------------------------------------------------
  // Sending
  // -------------------------------------------------------------------------

  const closedError = Effect.gen(function*() {
    const current = yield* SubscriptionRef.get(state)
    return current._tag === "Closed" ? Option.some(current.error) : Option.none()
  })

  const enqueue = (outgoing: Outgoing) =>
    Effect.gen(function*() {
      const closed = yield* closedError
      if (Option.isSome(closed)) return yield* Effect.fail(closed.value)
      if (!(yield* Queue.offer(outbox, outgoing))) return yield* new SendQueueFull({ capacity: sendQueueCapacity })
      return yield* Deferred.await(outgoing.written).pipe(
        Effect.timeoutOrElse({
          duration: sendDeadlineMs,
          orElse: () =>
            Effect.andThen(
              Deferred.fail(outgoing.written, new SendTimeout({ deadlineMs: sendDeadlineMs })),
              Deferred.await(outgoing.written)
            )
        })
      )
    })

  const request = (draft: Envelope.Draft<Envelope.Type>, timeoutMs: number) =>
    Effect.gen(function*() {
      const written = yield* Deferred.make<string, SendError>()
      const reply = yield* Deferred.make<Envelope.Envelope, UnknownAgent | GatewayRefused>()
      const id = yield* enqueue({ draft, written, reply })
      return yield* Deferred.await(reply).pipe(
        Effect.timeoutOrElse({
          duration: timeoutMs,
          orElse: () => Effect.andThen(Effect.sync(() => pending.delete(id)), Effect.fail(new RequestTimeout({ type: draft.type, timeoutMs })))
        })
      )
    })

  const session = Effect.gen(function*() {
    const current = yield* SubscriptionRef.get(state)
    if (current._tag === "Registered") return current.session
    if (current._tag === "Closed") return yield* Effect.fail(current.error)
    const next = yield* SubscriptionRef.changes(state).pipe(
      Stream.filter((s) => s._tag === "Registered" || s._tag === "Closed"),
      Stream.runHead
    )
    const settled = Option.getOrThrow(next)
    return settled._tag === "Registered" ? settled.session : yield* Effect.fail((settled as { error: FatalError }).error)
  })

  const close = Effect.gen(function*() {
    const current = yield* SubscriptionRef.get(state)
    if (current._tag === "Closed") return
    if (current._tag === "Registered") {
      // UNREGISTER is best effort: the gateway closes the socket with 1000 when it arrives.
      yield* Effect.ignore(
        Effect.gen(function*() {
          const written = yield* Deferred.make<string, SendError>()
          yield* enqueue({ draft: { type: "UNREGISTER", payload: {} }, written })
        }).pipe(Effect.timeout(2_000))
      )
    }
    yield* Fiber.interrupt(loopFiber)
    yield* shutdown("close", new ClientClosed()).pipe(Effect.catchTag("InvalidTransition", logInvalid))
  })

  yield* Scope.addFinalizer(scope, close)

  return GatewayClient.of({
    did: identity.did,
    state: SubscriptionRef.get(state),
    changes: SubscriptionRef.changes(state),
    session,
    send: (to, type, payload, correlationId) =>
      Effect.gen(function*() {
        const written = yield* Deferred.make<string, SendError>()
        return yield* enqueue({ draft: { type, to, payload, correlation_id: correlationId } as Envelope.Draft<Envelope.Type>, written })
      }),
    discover: (query) =>
      Effect.flatMap(request({ type: "DISCOVER", payload: query }, requestTimeoutMs), (answer) =>
        answer.type === "PEERS"
          ? Effect.succeed(answer.payload)
          : Effect.fail(new GatewayRefused({ code: "MALFORMED_MESSAGE", reason: `DISCOVER answered with ${answer.type}` }))),
    incoming: Stream.fromQueue(incoming),
    undelivered: Stream.fromQueue(undelivered),
    rejected: Ref.get(rejected),
    rejections: Stream.fromQueue(rejections),
    close
  })
})
