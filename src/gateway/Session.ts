/**
 * One agent's WebSocket session at the gateway (PROTOCOL.md 4.2 and 4.3).
 *
 * CHALLENGE, then REGISTER within the handshake timeout, then frames until the socket closes:
 * every frame passes the rate limit and `Accept.accept` before anything is done with it, and a
 * relayed frame is forwarded as the exact text that arrived. A misbehaving client is answered
 * with ERROR and, past its allowance, disconnected; nothing it sends can fail the gateway.
 *
 * @since 0.1.0
 */
import { base64urlnopad } from "@scure/base"
import { Cause, Clock, Effect, Metric, Option, Schema } from "effect"
import * as Socket from "effect/socket/Socket"
import * as Accept from "../protocol/Accept.ts"
import type { Did } from "../protocol/Did.ts"
import * as Envelope from "../protocol/Envelope.ts"
import type { ErrorCode } from "../protocol/ErrorCode.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as ReplayGuard from "../protocol/ReplayGuard.ts"
import { AgentRegistry } from "./AgentRegistry.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import * as IceServers from "./IceServers.ts"
import { type Delivery, Router } from "./Router.ts"
import * as TokenBucket from "./TokenBucket.ts"

/** What a session needs from the gateway around it. */
export interface SessionContext {
  readonly config: GatewayConfig
  readonly identity: Identity.Identity
  /** Bytes written to this session's socket and not yet sent (the transport's queue). */
  readonly outboundBytes: () => number
  /** The node's rate buckets by DID: a reconnect does not refill them. */
  readonly rates: Rates
}

/** Rate buckets of one gateway node, kept by DID across that DID's sessions. */
export interface Rates {
  readonly sending: ReturnType<typeof TokenBucket.keyed>
  readonly receiving: ReturnType<typeof TokenBucket.keyed>
}

/** The rate buckets of a node. */
export const makeRates = (config: GatewayConfig): Rates => ({
  sending: TokenBucket.keyed(config.sessionRate, 2 * config.maxSessions),
  receiving: TokenBucket.keyed(config.destinationRate, 2 * config.maxSessions)
})

/** ERROR replies a session gets per second, at most: each is signed, so a flood of junk must not buy signatures. */
const ERROR_REPLY_RATE = { perSecond: 20, burst: 40 }

/** WebSocket close codes of PROTOCOL.md 4.3. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  protocolError: 4000,
  sessionReplaced: 4001,
  handshakeFailed: 4002,
  rateLimited: 4003,
  timeout: 4004
} as const

const GATEWAY_BOUND: ReadonlySet<string> = new Set(["PING", "DISCOVER", "UNREGISTER"])
const ACCEPTED_AFTER_REGISTRATION: ReadonlySet<string> = new Set([...GATEWAY_BOUND, ...Envelope.relayedTypes])

/** The session ended because the gateway closed it (the code is already sent). */
class Closed extends Schema.TaggedError<Closed>()("Closed", { code: Schema.Number }) {}

/** Runs one session on an upgraded socket until it closes. */
export const run = Effect.fnUntraced(function*(socket: Socket.Socket, context: SessionContext) {
  const { config, identity } = context
  const registry = yield* AgentRegistry
  const router = yield* Router
  const writer = yield* socket.writer
  const reader = yield* socket.reader
  const sessionId = globalThis.crypto.randomUUID()
  // One sender per session: its own DID (and nothing else is accepted).
  const replay = ReplayGuard.make({ maxPerSender: config.maxReplayRecords, maxTotal: config.maxReplayRecords })
  const startedAt = yield* Clock.currentTimeMillis
  const discoverBucket = TokenBucket.make(config.discoverRate, startedAt)
  const errorReplies = TokenBucket.make(ERROR_REPLY_RATE, startedAt)
  let did: Did | undefined
  let lastActivity = startedAt
  let rejectedFrames = 0
  let rateLimitStrikes = 0
  let closing = false

  const write = (frame: string) => Effect.ignore(writer.write(frame))
  const close = (code: number, reason: string) =>
    Effect.gen(function*() {
      if (closing) return
      closing = true
      yield* Metric.update(GatewayMetrics.closed(code), 1)
      yield* Effect.ignore(writer.write(new Socket.CloseEvent(code, reason)))
    })
  const closeAndEnd = (code: number, reason: string) =>
    Effect.andThen(close(code, reason), Effect.fail(new Closed({ code })))

  /** A signed envelope from the gateway to this session's agent. */
  const sendSigned = <T extends Envelope.Type>(draft: Envelope.Draft<T>) =>
    Envelope.make(identity, draft).pipe(
      Effect.flatMap((envelope) => write(Envelope.encode(envelope))),
      Effect.catchCause((cause) => Effect.logError("gateway could not sign an envelope", cause))
    )
  const sendError = (code: ErrorCode, message: string, correlationId?: string, details?: Envelope.Payload<"ERROR">["details"]) =>
    Effect.gen(function*() {
      yield* Metric.update(GatewayMetrics.rejected(code), 1)
      // Past the reply rate the frame is still refused and counted, only not answered.
      if (!TokenBucket.take(errorReplies, yield* Clock.currentTimeMillis)) return
      yield* sendSigned({
        type: "ERROR",
        to: did,
        correlation_id: correlationId,
        payload: { code, message: message.slice(0, 256), ...(details === undefined ? {} : { details }) }
      })
    })
  const sendRejection = (rejection: Accept.EnvelopeRejected) =>
    sendError(rejection.code as ErrorCode, rejection.reason, rejection.correlation_id, rejection.details)

  // -------------------------------------------------------------------------
  // Handshake
  // -------------------------------------------------------------------------

  const nonce = base64urlnopad.encode(globalThis.crypto.getRandomValues(new Uint8Array(32)))
  const handshakeContext: Accept.AcceptContext = {
    maxFrameBytes: config.maxHandshakeFrameBytes,
    skewMs: config.skewMs,
    refuseType: (type) => (type === "REGISTER" ? undefined : "UNAUTHORIZED"),
    checkTo: (header) => Effect.succeed(header.to === identity.did),
    replay
  }
  const failHandshake = (code: ErrorCode, message: string, correlationId?: string, closeCode: number = CloseCode.handshakeFailed) =>
    Effect.andThen(sendError(code, message, correlationId), closeAndEnd(closeCode, message.slice(0, 120)))

  const awaitRegister = Effect.gen(function*() {
    while (true) {
      const frames = yield* reader.pull
      for (const frame of frames) {
        const accepted = yield* Effect.result(Accept.accept(frame, handshakeContext))
        if (accepted._tag === "Failure") {
          const rejection = accepted.failure
          return yield* failHandshake(
            rejection.code as ErrorCode,
            rejection.reason,
            rejection.correlation_id,
            rejection.code === "MESSAGE_TOO_LARGE" ? CloseCode.tooBig : CloseCode.handshakeFailed
          )
        }
        const register = accepted.success.envelope as Envelope.Envelope<"REGISTER">
        if (register.payload.nonce !== nonce) {
          return yield* failHandshake("UNAUTHORIZED", "the nonce is not this session's challenge", register.id)
        }
        if (config.publicUrls.length > 0 && !config.publicUrls.includes(register.payload.endpoint)) {
          return yield* failHandshake("UNAUTHORIZED", "the endpoint is not a URL of this gateway", register.id)
        }
        return register
      }
    }
  })

  const registerAgent = (register: Envelope.Envelope<"REGISTER">) =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      did = register.from
      const previous = yield* registry.register({
        did: register.from,
        capabilities: register.payload.capabilities,
        name: register.payload.name,
        unlisted: register.payload.unlisted ?? false,
        connectedAt: Envelope.formatTimestamp(now),
        sessionId
      })
      if (Option.isSome(previous)) yield* router.evict(register.from, previous.value.sessionId)
      yield* router.attach(register.from, {
        sessionId,
        deliver: (frame) => deliver(frame),
        replaced: Effect.andThen(
          sendError("SESSION_REPLACED", "this DID registered again from another connection"),
          close(CloseCode.sessionReplaced, "session replaced")
        )
      })
      yield* Metric.update(GatewayMetrics.registrations, 1)
      yield* Metric.update(GatewayMetrics.agents, 1)
      yield* sendSigned({
        type: "REGISTERED",
        to: register.from,
        correlation_id: register.id,
        payload: {
          session_id: sessionId,
          heartbeat_interval_ms: config.heartbeatIntervalMs,
          session_timeout_ms: config.sessionTimeoutMs,
          max_message_bytes: config.maxMessageBytes,
          ice_servers: IceServers.forAgent(config, register.from, now)
        }
      })
      lastActivity = now
    })

  /** Hands a frame relayed by another session to this one's socket. */
  const deliver = (frame: string): Effect.Effect<Exclude<Delivery, "unknown">> =>
    Effect.gen(function*() {
      if (closing) return "congested"
      if (did === undefined || !context.rates.receiving.take(did, yield* Clock.currentTimeMillis)) return "rate_limited"
      if (context.outboundBytes() > config.maxOutboundBufferBytes) return "congested"
      yield* write(frame)
      return "delivered"
    })

  // -------------------------------------------------------------------------
  // Registered
  // -------------------------------------------------------------------------

  const sessionContext: Accept.AcceptContext = {
    maxFrameBytes: config.maxMessageBytes,
    skewMs: config.skewMs,
    refuseType: (type) => (ACCEPTED_AFTER_REGISTRATION.has(type) ? undefined : "UNSUPPORTED_TYPE"),
    get expectedFrom() {
      return did
    },
    checkTo: (header) =>
      GATEWAY_BOUND.has(header.type)
        ? Effect.succeed(header.to === identity.did)
        : header.to === undefined || header.to === identity.did
        ? Effect.succeed(false)
        : Effect.map(registry.lookup(header.to), Option.isSome),
    replay,
    verifySignature: (header) => config.verifyRelaySignatures || !Envelope.relayedTypes.has(header.type as Envelope.Type)
  }

  const refuse = (rejection: Accept.EnvelopeRejected) =>
    Effect.gen(function*() {
      yield* sendRejection(rejection)
      if (rejection.code === "RATE_LIMITED") return yield* strike()
      rejectedFrames++
      if (rejectedFrames > config.maxRejectedFrames) {
        return yield* closeAndEnd(CloseCode.protocolError, "too many rejected frames")
      }
    })
  const strike = () =>
    rateLimitStrikes++ >= config.maxRateLimitStrikes
      ? closeAndEnd(CloseCode.rateLimited, "rate limit exceeded")
      : Effect.void

  const relay = (accepted: Accept.Accepted, receivedAt: number) =>
    Effect.gen(function*() {
      const { envelope, text } = accepted
      const delivery = yield* router.route(envelope.to!, text)
      if (delivery === "delivered") {
        yield* Metric.update(GatewayMetrics.relayed(envelope.type), 1)
        yield* Metric.update(GatewayMetrics.relayLatency, (performance.now() - receivedAt) / 1000)
        return
      }
      yield* Metric.update(GatewayMetrics.undelivered(delivery), 1)
      if (delivery === "unknown") {
        return yield* sendError("UNKNOWN_AGENT", "the destination is not registered", envelope.id)
      }
      yield* sendError("RATE_LIMITED", "the destination receives no more frames for now", envelope.id, { destination: delivery })
    })

  const handle = (frame: string | Uint8Array) =>
    Effect.gen(function*() {
      const receivedAt = performance.now()
      const now = yield* Clock.currentTimeMillis
      if (!context.rates.sending.take(did!, now)) {
        yield* sendError("RATE_LIMITED", "too many frames from this session")
        return yield* strike()
      }
      const result = yield* Effect.result(Accept.accept(frame, sessionContext))
      if (result._tag === "Failure") return yield* refuse(result.failure)
      lastActivity = now
      const { envelope } = result.success
      switch (envelope.type) {
        case "PING": {
          const { sequence } = (envelope as Envelope.Envelope<"PING">).payload
          return yield* sendSigned({
            type: "PONG",
            to: did,
            correlation_id: envelope.id,
            payload: sequence === undefined ? {} : { sequence }
          })
        }
        case "DISCOVER":
          return yield* discover(envelope as Envelope.Envelope<"DISCOVER">, now)
        case "UNREGISTER":
          yield* unregister
          return yield* closeAndEnd(CloseCode.normal, "unregistered")
        default:
          return yield* relay(result.success, receivedAt)
      }
    })

  // The fixed part of a PEERS envelope (members, signature, DIDs) stays under this many bytes.
  const PEERS_OVERHEAD_BYTES = 1024
  const discover = (request: Envelope.Envelope<"DISCOVER">, now: number) =>
    Effect.gen(function*() {
      if (!TokenBucket.take(discoverBucket, now)) {
        yield* sendError("RATE_LIMITED", "too many DISCOVER requests", request.id)
        return yield* strike()
      }
      const page = yield* registry.discover({
        capability: request.payload.capability,
        tag: request.payload.tag,
        limit: request.payload.limit ?? 50,
        cursor: request.payload.cursor,
        exclude: did,
        maxBytes: config.maxMessageBytes - PEERS_OVERHEAD_BYTES
      }).pipe(Effect.result)
      if (page._tag === "Failure") return yield* sendError("MALFORMED_MESSAGE", "unknown cursor", request.id)
      yield* sendSigned({
        type: "PEERS",
        to: did,
        correlation_id: request.id,
        payload: {
          agents: [...page.success.agents],
          ...(page.success.nextCursor === undefined ? {} : { next_cursor: page.success.nextCursor })
        }
      })
    })

  const unregister = Effect.suspend(() => {
    if (did === undefined) return Effect.void
    const registered = did
    return Effect.gen(function*() {
      yield* router.detach(registered, sessionId)
      if (yield* registry.unregister(registered, sessionId)) yield* Metric.update(GatewayMetrics.agents, -1)
      did = undefined
    })
  })

  /** Closes the session with 4004 once no frame has been accepted for the session timeout. */
  const watchdog = (timeoutMs: number, code: number, reason: string) =>
    Effect.gen(function*() {
      while (true) {
        const idle = (yield* Clock.currentTimeMillis) - lastActivity
        if (idle >= timeoutMs) {
          if (code === CloseCode.handshakeFailed) yield* sendError("TIMEOUT", reason)
          return yield* closeAndEnd(code, reason)
        }
        yield* Effect.sleep(timeoutMs - idle)
      }
    })

  const serve = Effect.gen(function*() {
    yield* sendSigned({ type: "CHALLENGE", payload: { nonce } })
    const register = yield* Effect.raceFirst(
      awaitRegister,
      watchdog(config.handshakeTimeoutMs, CloseCode.handshakeFailed, "no REGISTER within the handshake timeout")
    )
    yield* registerAgent(register as Envelope.Envelope<"REGISTER">)
    const frames = Effect.gen(function*() {
      while (true) {
        for (const frame of yield* reader.pull) yield* handle(frame)
      }
    })
    yield* Effect.raceFirst(frames, watchdog(config.sessionTimeoutMs, CloseCode.timeout, "session timeout"))
  })

  yield* serve.pipe(
    Effect.catchTag("Closed", () => Effect.void),
    Effect.catchTag("SocketError", () => Effect.void),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause)
        : Effect.andThen(Effect.logError("gateway session failed", cause), close(1011, "internal error"))
    ),
    Effect.ensuring(unregister)
  )
})
