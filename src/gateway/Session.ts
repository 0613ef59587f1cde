/**
 * One agent's WebSocket session at the gateway (PROTOCOL.md 4.2 and 4.3).
 *
 * CHALLENGE, then REGISTER within the handshake timeout, then frames until the socket closes:
 * every frame passes the rate limit and the acceptance checks before anything is done with it,
 * and a relayed frame is forwarded as the exact text that arrived. A misbehaving client is
 * answered with ERROR and, past its allowance, disconnected; nothing it sends can fail the
 * gateway.
 *
 * A session is driven by its socket's events, not by a fiber of its own: frames are handled one
 * at a time, in order. A relayed frame takes a synchronous path (the checks of `Accept`, the
 * directory lookup and the delivery run at once when the services answer at once); everything
 * else, and any service that answers later, runs as an Effect while later frames wait.
 *
 * @since 0.1.0
 */
import { base64urlnopad } from "@scure/base"
import { Cause, Clock, type Context, Effect, Exit, Fiber, Metric, Option, Result, Schema } from "effect"
import * as Accept from "../protocol/Accept.ts"
import type { Did } from "../protocol/Did.ts"
import { Ed25519 } from "../protocol/Ed25519.ts"
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

/** The socket of one session, as the session uses it (a `ws` WebSocket at the gateway). */
export interface Connection {
  /** Queues a text frame. */
  readonly send: (frame: string) => void
  /** Starts the closing handshake. */
  readonly close: (code: number, reason: string) => void
  /** Bytes written to the socket and not yet sent (the transport's queue). */
  readonly bufferedBytes: () => number
  /** Stops reading frames while the session works through those it holds. */
  readonly pause: () => void
  readonly resume: () => void
}

/** What a session needs from the gateway around it. */
export interface SessionContext {
  readonly config: GatewayConfig
  readonly identity: Identity.Identity
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

// What every session accepts (shared: a session holds as few functions of its own as it can).
const refuseBeforeRegistration = (type: string): ErrorCode | undefined => (type === "REGISTER" ? undefined : "UNAUTHORIZED")
const refuseAfterRegistration = (type: string): ErrorCode | undefined =>
  ACCEPTED_AFTER_REGISTRATION.has(type) ? undefined : "UNSUPPORTED_TYPE"
const verifyAll = (): boolean => true
const verifyGatewayBound = (header: Envelope.Header): boolean => !Envelope.relayedTypes.has(header.type as Envelope.Type)

/** Frames a busy session holds before it stops reading its socket. */
const INBOX_HIGH_WATER = 64

/** Frames one session handles in a row; its next ones wait a turn of the event loop, so a flood does not hold up the others. */
const FRAMES_PER_TURN = 16

/** The session ended because the gateway closed it (the code is already sent). */
class Closed extends Schema.TaggedError<Closed>()("Closed", { code: Schema.Number }) {}

/** The work of one frame: `undefined` when it is already done. */
type Work = Effect.Effect<void, Closed> | undefined

/** One session, driven by its socket's events. */
export interface Session {
  /** Hands over a frame from the socket; frames are handled one at a time, in arrival order. */
  readonly receive: (frame: string | Uint8Array) => void
  /** Closes the session if nothing was accepted from it for its timeout, at `now` (the gateway's watchdog sweep). */
  readonly expire: (now: number) => void
  /** Closes the socket with `code` (unless the session already closed it) and leaves the directory. */
  readonly end: (code: number, reason: string) => Effect.Effect<void>
  /** The socket closed: leaves the directory. */
  readonly closed: Effect.Effect<void>
}

/** Starts a session on an open socket: sends CHALLENGE and waits for REGISTER. */
export const make = Effect.fnUntraced(function*(connection: Connection, context: SessionContext) {
  const { config, identity } = context
  const registry = yield* AgentRegistry
  const router = yield* Router
  const services = yield* Effect.context<AgentRegistry | Router>()
  const runFork = Effect.runForkWith(services)
  const metrics = services as Context.Context<never>
  const clock = yield* Clock.Clock
  const { verifySync } = yield* Ed25519
  const sessionId = globalThis.crypto.randomUUID()
  // One sender per session: its own DID (and nothing else is accepted).
  const replay = ReplayGuard.make({ maxPerSender: config.maxReplayRecords, maxTotal: config.maxReplayRecords })
  const startedAt = clock.currentTimeMillisUnsafe()
  const discoverBucket = TokenBucket.make(config.discoverRate, startedAt)
  const errorReplies = TokenBucket.make(ERROR_REPLY_RATE, startedAt)
  let did: Did | undefined
  let lastActivity = startedAt
  let rejectedFrames = 0
  let rateLimitStrikes = 0
  let closing = false
  let ended = false

  const write = (frame: string) => Effect.sync(() => connection.send(frame))
  const close = (code: number, reason: string) =>
    Effect.gen(function*() {
      if (closing) return
      closing = true
      yield* Metric.update(GatewayMetrics.closed(code), 1)
      connection.close(code, reason)
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
      if (!TokenBucket.take(errorReplies, clock.currentTimeMillisUnsafe())) return
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
    refuseType: refuseBeforeRegistration,
    checkTo: (header) => Effect.succeed(header.to === identity.did),
    replay
  }
  const failHandshake = (code: ErrorCode, message: string, correlationId?: string, closeCode: number = CloseCode.handshakeFailed) =>
    Effect.andThen(sendError(code, message, correlationId), closeAndEnd(closeCode, message.slice(0, 120)))

  /** A frame before registration: REGISTER, or the handshake fails. */
  const handshakeFrame = (frame: string | Uint8Array) =>
    Effect.gen(function*() {
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
      yield* registerAgent(register)
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
  const deliver = (frame: string): Exclude<Delivery, "unknown"> => {
    if (closing) return "congested"
    if (did === undefined || !context.rates.receiving.take(did, clock.currentTimeMillisUnsafe())) return "rate_limited"
    if (connection.bufferedBytes() > config.maxOutboundBufferBytes) return "congested"
    connection.send(frame)
    return "delivered"
  }

  // -------------------------------------------------------------------------
  // Registered
  // -------------------------------------------------------------------------

  const sessionContext: Accept.AcceptContext = {
    maxFrameBytes: config.maxMessageBytes,
    skewMs: config.skewMs,
    refuseType: refuseAfterRegistration,
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
    verifySignature: config.verifyRelaySignatures ? verifyAll : verifyGatewayBound
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

  /** Runs `effect` now; continues with `next` at once when it finished synchronously, else once it has. */
  const after = <A>(effect: Effect.Effect<A>, next: (a: A) => Work): Work => {
    const fiber = runFork(effect)
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return Effect.flatMap(Fiber.join(fiber), (a) => next(a) ?? Effect.void)
    return Exit.isSuccess(exit) ? next(exit.value) : Effect.failCause(exit.cause)
  }

  /** Hands an accepted frame to its destination's session. */
  const relay = (accepted: Accept.Accepted, receivedAt: number): Work => {
    const { envelope, text } = accepted
    return after(router.route(envelope.to!, text), (delivery) => {
      if (delivery === "delivered") {
        GatewayMetrics.relayed(envelope.type).updateUnsafe(1, metrics)
        GatewayMetrics.relayLatency.updateUnsafe((performance.now() - receivedAt) / 1000, metrics)
        return undefined
      }
      GatewayMetrics.undelivered(delivery).updateUnsafe(1, metrics)
      if (delivery === "unknown") return sendError("UNKNOWN_AGENT", "the destination is not registered", envelope.id)
      return sendError("RATE_LIMITED", "the destination receives no more frames for now", envelope.id, { destination: delivery })
    })
  }

  /**
   * Steps 7 to 11 of a relayed frame without an Effect of its own: `to` must be another
   * registered agent (the directory may answer later), then the rest with synchronous Ed25519.
   */
  const relayChecked = (
    candidate: Accept.Candidate,
    now: number,
    receivedAt: number,
    verify: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean
  ): Work => {
    const to = candidate.header.to
    if (to === undefined || to === identity.did) return refuse(Accept.unknownRecipient(candidate))
    return after(registry.lookup(to), (entry) => {
      if (Option.isNone(entry)) return refuse(Accept.unknownRecipient(candidate))
      const accepted = Accept.complete(candidate, sessionContext, now, verify)
      if (Result.isFailure(accepted)) return refuse(accepted.failure)
      lastActivity = now
      return relay(accepted.success, receivedAt)
    })
  }

  /** A frame from a registered agent. */
  const registeredFrame = (frame: string | Uint8Array): Work => {
    const receivedAt = performance.now()
    const now = clock.currentTimeMillisUnsafe()
    if (!context.rates.sending.take(did!, now)) {
      return Effect.andThen(sendError("RATE_LIMITED", "too many frames from this session"), strike())
    }
    const read = Accept.read(frame, sessionContext)
    if (Result.isFailure(read)) return refuse(read.failure)
    const candidate = read.success
    if (verifySync !== undefined && Envelope.relayedTypes.has(candidate.type)) {
      return relayChecked(candidate, now, receivedAt, verifySync)
    }
    return Effect.gen(function*() {
      const result = yield* Effect.result(Accept.completeEffect(candidate, sessionContext))
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
          return yield* (relay(result.success, receivedAt) ?? Effect.void)
      }
    })
  }

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

  // -------------------------------------------------------------------------
  // Driving the session
  // -------------------------------------------------------------------------

  /** Ends the session: no more frames are handled, and it leaves the directory. */
  const ending = Effect.andThen(Effect.sync(() => {
    ended = true
    inbox.length = 0
  }), unregister)

  /** The work of a frame with the session's failures handled: a close by the gateway ends it. */
  const settle = (work: Effect.Effect<void, Closed>): Effect.Effect<void> =>
    work.pipe(
      Effect.catchTag("Closed", () => ending),
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.andThen(Effect.logError("gateway session failed", cause), Effect.andThen(close(1011, "internal error"), ending))
      )
    )

  const inbox: Array<string | Uint8Array> = []
  /** Work started and not finished (it waits for a service): frames wait until there is none. */
  let inFlight = 0
  let paused = false
  let endWhenIdle = false
  let handledInTurn = 0
  let turnScheduled = false
  const endTurn = () => {
    handledInTurn = 0
  }
  const nextTurn = () => {
    turnScheduled = false
    handledInTurn = 0
    drain()
  }
  const scheduleTurn = () => {
    if (turnScheduled) return
    turnScheduled = true
    setImmediate(nextTurn)
  }

  /** Runs the work of a frame (or of the watchdog); the session is busy until it is done. */
  const run = (work: Effect.Effect<void, Closed>): void => {
    const fiber = runFork(settle(work))
    if (fiber.pollUnsafe() !== undefined) return
    inFlight++
    fiber.addObserver(() => {
      if (--inFlight > 0) return
      if (endWhenIdle) {
        endWhenIdle = false
        runFork(ending)
      } else {
        drain()
      }
    })
  }

  /** The socket closed: work in progress (a registration, say) finishes first, then the session leaves the directory. */
  const closed = Effect.suspend(() => {
    if (inFlight === 0) return ending
    ended = true
    inbox.length = 0
    endWhenIdle = true
    return Effect.void
  })

  const handle = (frame: string | Uint8Array): void => {
    if (ended || closing) return
    const work = did === undefined ? handshakeFrame(frame) : registeredFrame(frame)
    if (work !== undefined) run(work)
  }

  /** Handles a frame now, within this turn's share. */
  const handleInTurn = (frame: string | Uint8Array): void => {
    if (handledInTurn++ === 0) queueMicrotask(endTurn)
    handle(frame)
  }

  /** Handles held frames until the session is busy again, holds none, or has had its turn. */
  const drain = (): void => {
    while (inFlight === 0 && inbox.length > 0) {
      if (handledInTurn >= FRAMES_PER_TURN) return scheduleTurn()
      handleInTurn(inbox.shift()!)
    }
    if (paused && inFlight === 0 && inbox.length === 0) {
      paused = false
      connection.resume()
    }
  }

  const receive = (frame: string | Uint8Array): void => {
    if (ended) return
    if (inFlight === 0 && inbox.length === 0 && handledInTurn < FRAMES_PER_TURN) return handleInTurn(frame)
    inbox.push(frame)
    if (inFlight === 0) scheduleTurn()
    if (!paused && inbox.length >= INBOX_HIGH_WATER) {
      paused = true
      connection.pause()
    }
  }

  /** Closes the session with TIMEOUT (handshake) or 4004 once nothing was accepted for its timeout. */
  const expire = (now: number): void => {
    if (ended || closing) return
    const registered = did !== undefined
    if (now - lastActivity < (registered ? config.sessionTimeoutMs : config.handshakeTimeoutMs)) return
    if (registered) return run(closeAndEnd(CloseCode.timeout, "session timeout"))
    const reason = "no REGISTER within the handshake timeout"
    run(Effect.andThen(sendError("TIMEOUT", reason), closeAndEnd(CloseCode.handshakeFailed, reason)))
  }

  run(sendSigned({ type: "CHALLENGE", payload: { nonce } }))

  return {
    receive,
    expire,
    end: (code, reason) => Effect.andThen(close(code, reason), closed),
    closed
  } satisfies Session
})
