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
 * else, and any service that answers later, runs as an Effect while later frames wait. A session
 * handles at most a turn's share of frames in a row (`FRAMES_PER_TURN`, `BYTES_PER_TURN`), and
 * the node's sessions share the event loop's time by client address when it runs short
 * (`LoopShare`): past the share, frames wait in their session for its next turn.
 *
 * @since 0.1.0
 */
import { performance } from "node:perf_hooks"
import { base64urlnopad } from "@scure/base"
import { Cause, Clock, type Context, Effect, Exit, Fiber, Metric, Option, Result, Schema } from "effect"
import * as Accept from "../protocol/Accept.ts"
import * as Did from "../protocol/Did.ts"
import { Ed25519, type Ed25519Shape } from "../protocol/Ed25519.ts"
import * as Envelope from "../protocol/Envelope.ts"
import type { ErrorCode } from "../protocol/ErrorCode.ts"
import { CloseCode } from "../protocol/GatewaySocket.ts"
import * as Heartbeat from "../protocol/Heartbeat.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as ReplayGuard from "../protocol/ReplayGuard.ts"
import * as StateMachine from "../machine/StateMachine.ts"
import { AgentRegistry } from "./AgentRegistry.ts"
import * as DialledUrl from "./DialledUrl.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import * as IceServers from "./IceServers.ts"
import { LoopShare } from "./LoopShare.ts"
import { type Delivery, type Endpoint, Router } from "./Router.ts"
import * as SessionState from "./SessionState.ts"
import * as TokenBucket from "./TokenBucket.ts"
import { VerifyPool, type Verified } from "./VerifyPool.ts"

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
  /** Drops the connection at once, without a closing handshake (for a client that does not read). */
  readonly abort: () => void
  /** The host the client dialled (REGISTER's `endpoint` is checked against it). */
  readonly dialled: DialledUrl.Dialled
  /** The client's address: sessions share the event loop by address when it runs short (`LoopShare`); unset, they share one. */
  readonly address?: string
}

/** What a session needs from the gateway around it. */
export interface SessionContext {
  readonly config: GatewayConfig
  readonly identity: Identity.Identity
  /** The node's rate buckets by DID: a reconnect does not refill them. */
  readonly rates: Rates
  /** The event loop's share for frames (default: a `LoopShare` of `TURN_BUDGET_MS`). */
  readonly share?: LoopShare
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

const GATEWAY_BOUND: ReadonlySet<string> = new Set(["PING", "DISCOVER", "UNREGISTER"])
const ACCEPTED_AFTER_REGISTRATION: ReadonlySet<string> = new Set([...GATEWAY_BOUND, ...Envelope.relayedTypes])

// What every session accepts (shared: a session holds as few functions of its own as it can).
const refuseBeforeRegistration = (type: string): ErrorCode | undefined => (type === "REGISTER" ? undefined : "UNAUTHORIZED")
const refuseAfterRegistration = (type: string): ErrorCode | undefined =>
  ACCEPTED_AFTER_REGISTRATION.has(type) ? undefined : "UNSUPPORTED_TYPE"
const verifyAll = (): boolean => true
const verifyGatewayBound = (header: Envelope.Header): boolean => !Envelope.relayedTypes.has(header.type as Envelope.Type)

/** Frames a busy session holds before it stops reading its socket (see also `INBOX_HIGH_WATER_BYTES`). */
const INBOX_HIGH_WATER = 64

/**
 * Relayed frames of one session whose signatures are being checked on the pool's threads (they
 * are delivered in arrival order as their checks come back); past this, the session's next frames
 * wait in its inbox, and past `INBOX_HIGH_WATER` of those it stops reading its socket.
 */
const MAX_CHECKING = 64

/** Frames one session handles in a row; its next ones wait a turn of the event loop, so a flood does not hold up the others. */
const FRAMES_PER_TURN = 16

/**
 * Bytes of frames one session handles in a row (the first frame of a turn is always handled): a
 * turn costs about one large frame's parse whatever the frames' size, so a flood of 60 KB frames
 * holds the event loop no longer per turn than a flood of small ones.
 */
const BYTES_PER_TURN = 64 * 1024

/**
 * Bytes of frames a busy session holds before it stops reading its socket: \`ws\` hands over all
 * the frames of a read at once, and this bounds what one socket has parsed ahead of its turn to
 * a turn's worth plus the read in progress.
 */
const INBOX_HIGH_WATER_BYTES = BYTES_PER_TURN

const frameSize = (frame: string | Uint8Array): number => typeof frame === "string" ? frame.length : frame.byteLength

/** The session ended because the gateway closed it (the code is already sent). */
class Closed extends Schema.TaggedError<Closed>()("Closed", { code: Schema.Number }) {}

/** How the work of a frame ends early: the gateway closed the session, or its lifecycle went wrong (a bug). */
type Failure = Closed | StateMachine.InvalidTransition

/** The work of one frame: `undefined` when it is already done. */
type Work = Effect.Effect<void, Failure> | undefined

/** Where no caller can take a failure: an invalid transition is logged as the bug it is. */
const logInvalid = <A>(effect: Effect.Effect<A, StateMachine.InvalidTransition>): Effect.Effect<A | void> =>
  Effect.catchTag(effect, "InvalidTransition", (error) => Effect.logError("gateway session: invalid state transition", error.message))

/** One session, driven by its socket's events. */
export interface Session {
  /** Hands over a frame from the socket; frames are handled one at a time, in arrival order. */
  readonly receive: (frame: string | Uint8Array) => void
  /** Closes the session if nothing was accepted from it for its timeout, at `now` (the gateway's watchdog sweep). */
  readonly expire: (now: number) => void
  /** Whether it still waits for REGISTER (the watchdog sweeps those more often). */
  readonly handshaking: boolean
  /** Closes the socket with `code` (unless the session already closed it) and leaves the directory. */
  readonly end: (code: number, reason: string) => Effect.Effect<void>
  /** The socket closed: leaves the directory. */
  readonly closed: Effect.Effect<void>
}

/** What the sessions of one gateway node share: looked up once, not held by each session. */
export interface Node extends SessionContext {
  readonly registry: AgentRegistry["Service"]
  readonly router: Router["Service"]
  readonly runFork: <A, E>(effect: Effect.Effect<A, E, AgentRegistry | Router>) => Fiber.Fiber<A, E>
  readonly metrics: Context.Context<never>
  readonly clock: Clock.Clock
  /** Relayed frames take a synchronous path: the gateway's Ed25519 (node:crypto) verifies synchronously. */
  readonly verifySync: NonNullable<Ed25519Shape["verifySync"]>
  /** Threads that check relayed frames' signatures; `undefined`: they are checked with `verifySync`, in turn. */
  readonly pool: VerifyPool["Service"] | undefined
  /** The event loop's time for the sessions' frames, shared by address when it runs short. */
  readonly share: LoopShare
}

/** The node's side of its sessions, for `start`. */
export const makeNode = Effect.fnUntraced(function*(context: SessionContext) {
  const services = yield* Effect.context<AgentRegistry | Router>()
  return {
    ...context,
    registry: yield* AgentRegistry,
    router: yield* Router,
    runFork: Effect.runForkWith(services),
    metrics: services as Context.Context<never>,
    clock: yield* Clock.Clock,
    verifySync: (yield* Ed25519).verifySync ?? (yield* Effect.die(new Error("the gateway needs a synchronous Ed25519 (NodeEd25519.layer)"))),
    pool: context.config.verifyRelaySignatures
      ? Option.getOrUndefined(Option.filter(yield* Effect.serviceOption(VerifyPool), (pool) => pool.size > 0))
      : undefined,
    share: context.share ?? new LoopShare()
  } satisfies Node
})

/** Starts a session on an open socket: sends CHALLENGE and waits for REGISTER. */
export const start = (node: Node, connection: Connection): Session => new GatewaySession(node, connection)

// The acceptance rules of a session, before and after registration: a session's state is read
// through a small object whose functions are the prototype's, not closures of each session.

/** What every acceptance context of a session reads from it. */
abstract class SessionRules {
  protected readonly session: GatewaySession
  constructor(session: GatewaySession) {
    this.session = session
  }
  get skewMs(): number {
    return this.session.node.config.skewMs
  }
  get replay(): ReplayGuard.ReplayGuard {
    return this.session.replay
  }
}

/** What a session accepts before registration: REGISTER, to this gateway. */
class HandshakeRules extends SessionRules implements Accept.AcceptContext {
  get maxFrameBytes(): number {
    return this.session.node.config.maxHandshakeFrameBytes
  }
  refuseType(type: string): ErrorCode | undefined {
    return refuseBeforeRegistration(type)
  }
  checkTo(header: Envelope.Header): Effect.Effect<boolean> {
    return Effect.succeed(header.to === this.session.node.identity.did)
  }
}

/** What a registered session accepts: frames from its own DID, to the gateway or to another registered agent. */
class RegisteredRules extends SessionRules implements Accept.AcceptContext {
  get maxFrameBytes(): number {
    return this.session.node.config.maxMessageBytes
  }
  get expectedFrom(): Did.Did | undefined {
    return this.session.did
  }
  /**
   * The key of the session's DID, which passed every check (its curve point too) when it
   * registered: relayed frames are verified with it, not with the DID decoded and checked again.
   */
  readonly #publicKey: Uint8Array | undefined
  constructor(session: GatewaySession, did: Did.Did) {
    super(session)
    this.#publicKey = Result.getOrUndefined(Did.decodeSyntax(did))
  }
  publicKeyOf(from: string): Uint8Array | undefined {
    return from === this.session.did ? this.#publicKey : undefined
  }
  refuseType(type: string): ErrorCode | undefined {
    return refuseAfterRegistration(type)
  }
  checkTo(header: Envelope.Header): Effect.Effect<boolean> {
    // Relayed types never come here: `#relayChecked` looks their `to` up in the directory.
    return Effect.succeed(GATEWAY_BOUND.has(header.type) && header.to === this.session.node.identity.did)
  }
  verifySignature(header: Envelope.Header): boolean {
    return this.session.node.config.verifyRelaySignatures ? verifyAll() : verifyGatewayBound(header)
  }
}

// The fixed part of a PEERS envelope (members, signature, DIDs) stays under this many bytes.
const PEERS_OVERHEAD_BYTES = 1024

/** A frame of a session that waits for the checks of relayed frames before it (`GatewaySession.#checking`). */
interface InOrder {
  /** Whether it may run once the frames before it have. */
  readonly ready: boolean
  readonly run: () => Work
}

/** A relayed frame whose signature is being checked on the pool: delivered (or refused) in its turn. */
class Check implements InOrder, Verified {
  readonly session: GatewaySession
  readonly candidate: Accept.Candidate
  readonly prepared: Accept.Prepared
  readonly now: number
  readonly receivedAt: number
  ready = false
  valid = false
  constructor(session: GatewaySession, candidate: Accept.Candidate, prepared: Accept.Prepared, now: number, receivedAt: number) {
    this.session = session
    this.candidate = candidate
    this.prepared = prepared
    this.now = now
    this.receivedAt = receivedAt
  }
  verified(valid: boolean): void {
    this.ready = true
    this.valid = valid
    this.session.checked()
  }
  run(): Work {
    return this.session.relayVerified(this)
  }
}

/**
 * One session: its state in fields and its behaviour on the prototype, so an idle session costs
 * one object (and its socket) rather than a closure per step; it is also the router's `Endpoint`.
 * What only some sessions need (the DISCOVER and ERROR reply buckets, the inbox) is made on
 * first use.
 */
class GatewaySession implements Session, Endpoint {
  readonly node: Node
  readonly #connection: Connection
  /** The client's address, for its share of the event loop. */
  readonly address: string
  readonly sessionId: string = globalThis.crypto.randomUUID()
  // One sender per session: its own DID (and nothing else is accepted).
  readonly replay: ReplayGuard.ReplayGuard
  /** Where the session is in its lifecycle (`SessionState.machine`); changed only by `#enter`. */
  #phase: SessionState.Phase = SessionState.machine.initial
  /** The acceptance rules of the session's state: handshake until REGISTER, then registered. */
  #rules: Accept.AcceptContext
  /** The CHALLENGE's nonce, until registration. */
  #nonce: string | undefined
  /**
   * Set only from a REGISTER accepted under `HandshakeRules`, whose signature check decodes the
   * DID in full (curve point and small order): `RegisteredRules.publicKeyOf` relies on it.
   */
  did: Did.Did | undefined = undefined
  #lastActivity: number
  // Full until first used (a full bucket stays full, so making it later changes nothing).
  #discoverBucket: TokenBucket.TokenBucket | undefined = undefined
  #pingBucket: TokenBucket.TokenBucket | undefined = undefined
  #errorReplies: TokenBucket.TokenBucket | undefined = undefined
  #rejectedFrames = 0
  #rejectedBytes = 0
  #rateLimitStrikes = 0
  #inbox: Array<string | Uint8Array> | undefined = undefined
  #inboxBytes = 0
  /** Work started and not finished (it waits for a service): frames wait until there is none. */
  #inFlight = 0
  #paused = false
  #endWhenIdle = false
  #handledInTurn = 0
  #bytesInTurn = 0
  #turnScheduled = false
  /** Relayed frames out for their signature check, and the frames after them, in arrival order (made on first use). */
  #checking: Array<InOrder> | undefined = undefined

  constructor(node: Node, connection: Connection) {
    this.node = node
    this.#connection = connection
    this.address = connection.address ?? ""
    this.replay = ReplayGuard.make({ maxPerSender: node.config.maxReplayRecords, maxTotal: node.config.maxReplayRecords })
    this.#rules = new HandshakeRules(this)
    this.#nonce = base64urlnopad.encode(globalThis.crypto.getRandomValues(new Uint8Array(32)))
    this.#lastActivity = node.clock.currentTimeMillisUnsafe()
    this.#run(this.#sendSigned({ type: "CHALLENGE", payload: { nonce: this.#nonce } }))
  }

  /** Applies `event` to the session's lifecycle (a table lookup): the new phase, or why it is not allowed. */
  #enter(event: SessionState.Event): Result.Result<SessionState.Phase, StateMachine.InvalidTransition> {
    const next = StateMachine.transition(SessionState.machine, this.#phase, event)
    if (Result.isSuccess(next)) this.#phase = next.success
    return next
  }

  // -------------------------------------------------------------------------
  // Replies and closing
  // -------------------------------------------------------------------------

  /** Closes the socket with `code`, once: not again once the gateway closed it or it closed. */
  #close(code: number, reason: string): Effect.Effect<void, StateMachine.InvalidTransition> {
    return Effect.suspend(() => {
      if (!SessionState.isOpen(this.#phase)) return Effect.void
      const closing = this.#enter("close")
      if (Result.isFailure(closing)) return Effect.fail(closing.failure)
      return Effect.andThen(Metric.update(GatewayMetrics.closed(code), 1), Effect.sync(() => this.#connection.close(code, reason)))
    })
  }

  #closeAndEnd(code: number, reason: string): Effect.Effect<never, Failure> {
    return Effect.andThen(this.#close(code, reason), Effect.fail(new Closed({ code })))
  }

  /**
   * A signed envelope from the gateway to this session's agent. Replies respect the outbound
   * buffer cap as relayed frames do: a client whose queue is over it does not read what it asks
   * for, and is dropped (4003, no closing handshake it would not read either).
   */
  #sendSigned<T extends Envelope.Type>(draft: Envelope.Draft<T>): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.#connection.bufferedBytes() > this.node.config.maxOutboundBufferBytes) return Effect.sync(() => this.#abortUnread())
      return Envelope.make(this.node.identity, draft).pipe(
        Effect.flatMap((envelope) => Effect.sync(() => this.#connection.send(Envelope.encode(envelope)))),
        Effect.catchCause((cause) => Effect.logError("gateway could not sign an envelope", cause))
      )
    })
  }

  /** Drops a session that does not read its replies; the socket's close ends it. */
  #abortUnread(): void {
    // Once, as `#close`: an open session's `close` is always allowed.
    if (!SessionState.isOpen(this.#phase) || Result.isFailure(this.#enter("close"))) return
    this.#stop()
    GatewayMetrics.closed(CloseCode.rateLimited).updateUnsafe(1, this.node.metrics)
    this.#connection.abort()
  }

  #sendError(code: ErrorCode, message: string, correlationId?: string, details?: Envelope.Payload<"ERROR">["details"]) {
    const session = this
    return Effect.gen(function*() {
      yield* Metric.update(GatewayMetrics.rejected(code), 1)
      // Past the reply rate the frame is still refused and counted, only not answered.
      const now = session.node.clock.currentTimeMillisUnsafe()
      if (!TokenBucket.take(session.#errorReplies ??= TokenBucket.make(ERROR_REPLY_RATE, now), now)) return
      yield* session.#sendSigned({
        type: "ERROR",
        to: session.did,
        correlation_id: correlationId,
        payload: { code, message: message.slice(0, 256), ...(details === undefined ? {} : { details }) }
      })
    })
  }

  // -------------------------------------------------------------------------
  // Handshake
  // -------------------------------------------------------------------------

  #failHandshake(code: ErrorCode, message: string, correlationId?: string, closeCode: number = CloseCode.handshakeFailed) {
    return Effect.andThen(this.#sendError(code, message, correlationId), this.#closeAndEnd(closeCode, message.slice(0, 120)))
  }

  /** A frame before registration: REGISTER, or the handshake fails. */
  #handshakeFrame(frame: string | Uint8Array): Effect.Effect<void, Failure> {
    const session = this
    return Effect.gen(function*() {
      // A heartbeat refreshes a registered session only: before REGISTER there is no DID it could keep alive.
      if (typeof frame === "string" && Heartbeat.isShort(frame) && Result.isSuccess(Heartbeat.readHeartbeat(frame))) {
        return yield* session.#failHandshake("UNAUTHORIZED", "a heartbeat before registration: send REGISTER first")
      }
      const accepted = yield* Effect.result(Accept.accept(frame, session.#rules))
      if (accepted._tag === "Failure") {
        const rejection = accepted.failure
        return yield* session.#failHandshake(
          rejection.code as ErrorCode,
          rejection.reason,
          rejection.correlation_id,
          rejection.code === "MESSAGE_TOO_LARGE" ? CloseCode.tooBig : CloseCode.handshakeFailed
        )
      }
      const register = accepted.success.envelope
      // `HandshakeRules` let only a REGISTER through; the check narrows the type.
      if (register.type !== "REGISTER" || register.payload.nonce !== session.#nonce) {
        return yield* session.#failHandshake("UNAUTHORIZED", "the nonce is not this session's challenge", register.id)
      }
      const wrongEndpoint = DialledUrl.refusal(register.payload.endpoint, session.node.config.publicUrls, session.#connection.dialled)
      if (wrongEndpoint !== undefined) return yield* session.#failHandshake("UNAUTHORIZED", wrongEndpoint, register.id)
      yield* session.#registerAgent(register)
    })
  }

  #registerAgent(register: Envelope.Envelope<"REGISTER">): Effect.Effect<void, StateMachine.InvalidTransition> {
    const { config, registry, router } = this.node
    const session = this
    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      // The socket closed, or the watchdog closed the session, while its REGISTER was checked: nothing to register.
      if (!SessionState.isOpen(session.#phase)) return
      yield* Effect.fromResult(session.#enter("register"))
      session.did = register.from
      session.#nonce = undefined
      session.#rules = new RegisteredRules(session, register.from)
      const previous = yield* registry.register({
        did: register.from,
        capabilities: register.payload.capabilities,
        name: register.payload.name,
        unlisted: register.payload.unlisted ?? false,
        connectedAt: Envelope.formatTimestamp(now),
        sessionId: session.sessionId
      })
      if (Option.isSome(previous)) yield* router.evict(register.from, previous.value.sessionId)
      // The session is its own endpoint: `deliver` and `replaced` are its methods.
      yield* router.attach(register.from, session)
      yield* Metric.update(GatewayMetrics.registrations, 1)
      yield* Metric.modify(GatewayMetrics.agents, 1)
      yield* session.#sendSigned({
        type: "REGISTERED",
        to: register.from,
        correlation_id: register.id,
        payload: {
          session_id: session.sessionId,
          heartbeat_interval_ms: config.heartbeatIntervalMs,
          session_timeout_ms: config.sessionTimeoutMs,
          max_message_bytes: config.maxMessageBytes,
          ice_servers: IceServers.forAgent(config, register.from, now)
        }
      })
      session.#lastActivity = now
    })
  }

  /** Hands a frame relayed by another session to this one's socket (the router's `Endpoint`). */
  deliver(frame: string): Exclude<Delivery, "unknown"> {
    if (!SessionState.isOpen(this.#phase)) return "congested"
    const { clock, config, rates } = this.node
    if (this.did === undefined || !rates.receiving.take(this.did, clock.currentTimeMillisUnsafe())) return "rate_limited"
    if (this.#connection.bufferedBytes() > config.maxOutboundBufferBytes) return "congested"
    this.#connection.send(frame)
    return "delivered"
  }

  /** A newer registration of the DID replaced this session (the router's `Endpoint`). */
  get replaced(): Effect.Effect<void> {
    return Effect.andThen(
      this.#sendError("SESSION_REPLACED", "this DID registered again from another connection"),
      logInvalid(this.#close(CloseCode.sessionReplaced, "session replaced"))
    )
  }

  // -------------------------------------------------------------------------
  // Registered
  // -------------------------------------------------------------------------

  /** Refuses a frame; `bytes`: its size when parsing it was the cost (a session's rejected bytes are bounded too). */
  #refuse(rejection: Accept.EnvelopeRejected, bytes = 0): Effect.Effect<void, Failure> {
    return Effect.andThen(
      this.#sendError(rejection.code as ErrorCode, rejection.reason, rejection.correlation_id, rejection.details),
      Effect.suspend(() => {
        if (rejection.code === "RATE_LIMITED") return this.#strike()
        this.#rejectedFrames++
        this.#rejectedBytes += bytes
        if (this.#rejectedFrames > this.node.config.maxRejectedFrames || this.#rejectedBytes > this.node.config.maxRejectedBytes) {
          return this.#closeAndEnd(CloseCode.protocolError, "too many rejected frames")
        }
        return Effect.void
      })
    )
  }

  #strike(): Effect.Effect<void, Failure> {
    return this.#rateLimitStrikes++ >= this.node.config.maxRateLimitStrikes
      ? this.#closeAndEnd(CloseCode.rateLimited, "rate limit exceeded")
      : Effect.void
  }

  /** Runs `effect` now; continues with `next` at once when it finished synchronously, else once it has. */
  #after<A>(effect: Effect.Effect<A, never, AgentRegistry | Router>, next: (a: A) => Work): Work {
    const fiber = this.node.runFork(effect)
    const exit = fiber.pollUnsafe()
    if (exit === undefined) return Effect.flatMap(Fiber.join(fiber), (a) => next(a) ?? Effect.void)
    return Exit.isSuccess(exit) ? next(exit.value) : Effect.failCause(exit.cause)
  }

  /** Hands an accepted frame to its destination's session. */
  #relay(accepted: Accept.Accepted, receivedAt: number): Work {
    const { envelope, text } = accepted
    const { router } = this.node
    const delivery = router.routeNow?.(envelope.to!, text)
    if (delivery !== undefined) return this.#delivered(envelope, delivery, receivedAt)
    return this.#after(router.route(envelope.to!, text), (delivery) => this.#delivered(envelope, delivery, receivedAt))
  }

  #delivered(envelope: Envelope.Envelope, delivery: Delivery, receivedAt: number): Work {
    const { metrics } = this.node
    if (delivery === "delivered") {
      GatewayMetrics.relayed(envelope.type).updateUnsafe(1, metrics)
      GatewayMetrics.relayLatency.updateUnsafe((performance.now() - receivedAt) / 1000, metrics)
      return undefined
    }
    GatewayMetrics.undelivered(delivery).updateUnsafe(1, metrics)
    if (delivery === "unknown") return this.#sendError("UNKNOWN_AGENT", "the destination is not registered", envelope.id)
    return this.#sendError("RATE_LIMITED", "the destination receives no more frames for now", envelope.id, { destination: delivery })
  }

  /**
   * Steps 7 to 11 of a relayed frame without an Effect of its own: `to` must be another
   * registered agent (the directory may answer later), then the rest with synchronous Ed25519,
   * or with the signature checked on the pool and the frame delivered once its turn comes.
   */
  #relayChecked(candidate: Accept.Candidate, now: number, receivedAt: number): Work {
    const to = candidate.header.to
    if (to === undefined || to === this.node.identity.did) return this.#refuse(Accept.unknownRecipient(candidate))
    const { registry } = this.node
    const entry = registry.lookupNow?.(to)
    if (entry !== undefined) return this.#relayTo(entry, candidate, now, receivedAt)
    return this.#after(registry.lookup(to), (entry) => this.#relayTo(entry, candidate, now, receivedAt))
  }

  #relayTo(entry: Option.Option<unknown>, candidate: Accept.Candidate, now: number, receivedAt: number): Work {
    if (Option.isNone(entry)) return this.#refuse(Accept.unknownRecipient(candidate))
    const { pool, verifySync } = this.node
    // In place while the pool does not offload, unless frames before this one are out for their checks (order).
    if (pool === undefined || (!pool.offloading() && (this.#checking === undefined || this.#checking.length === 0))) {
      const accepted = Accept.complete(candidate, this.#rules, now, verifySync)
      if (Result.isFailure(accepted)) return this.#refuse(accepted.failure)
      this.#lastActivity = now
      return this.#relay(accepted.success, receivedAt)
    }
    const prepared = Accept.prepare(candidate, this.#rules, now)
    if (Result.isFailure(prepared)) return this.#inOrder(this.#refuse(prepared.failure))
    const check = new Check(this, candidate, prepared.success, now, receivedAt)
    ;(this.#checking ??= []).push(check)
    const signed = prepared.success.signed
    // (Not reached while the pool is only used when relayed frames are verified.)
    if (signed === undefined) queueMicrotask(() => check.verified(true))
    else pool.verify(signed.publicKey, signed.signature, signed.bytes, check)
    return undefined
  }

  /** A relayed frame whose check came back, in its turn. */
  relayVerified(check: Check): Work {
    const accepted = Accept.completeVerified(check.candidate, this.#rules, check.now, check.prepared, check.valid)
    if (Result.isFailure(accepted)) return this.#refuse(accepted.failure)
    this.#lastActivity = Math.max(this.#lastActivity, check.now)
    return this.#relay(accepted.success, check.receivedAt)
  }

  /** `work` now, or in its turn after the relayed frames still out for their checks. */
  #inOrder(work: Work): Work {
    const checking = this.#checking
    if (work === undefined || checking === undefined || checking.length === 0) return work
    checking.push({ ready: true, run: () => work })
    return undefined
  }

  /** A check came back: the frames whose turn it is now run, then held ones. */
  checked(): void {
    this.#runChecked()
    this.#drain()
  }

  /** Runs the frames at the head of `#checking` that are ready, in order, until one is not or the session is busy. */
  #runChecked(): void {
    const checking = this.#checking
    if (checking === undefined) return
    while (checking.length > 0 && checking[0]!.ready && this.#inFlight === 0) {
      if (this.#phase !== "registered") {
        checking.length = 0
        return
      }
      const work = checking.shift()!.run()
      if (work !== undefined) this.#run(work)
    }
  }

  /** Whether the session may take another relayed frame out for its check. */
  #hasRoomToCheck(): boolean {
    return this.#checking === undefined || this.#checking.length < MAX_CHECKING
  }

  /**
   * A heartbeat (PROTOCOL.md 4.3): it refreshes the session's liveness and is answered at once
   * with the constant HEARTBEAT_ACK, with no Effect, signature or replay record. It carries no
   * authority: the socket's DID was bound at registration, and the session rate applied to it.
   */
  #heartbeat(frame: string, now: number): Work {
    const heartbeat = frame === Heartbeat.FRAME ? undefined : Heartbeat.readHeartbeat(frame)
    if (heartbeat !== undefined && Result.isFailure(heartbeat)) {
      // In order behind frames out for their check, as every refusal.
      return this.#inOrder(this.#refuse(new Accept.EnvelopeRejected({ code: "MALFORMED_MESSAGE", step: 2, reason: `not a heartbeat: ${heartbeat.failure.reason}` }), frame.length))
    }
    this.#lastActivity = now
    // As every reply of the gateway's own: a client that does not read its answers is dropped.
    if (this.#connection.bufferedBytes() > this.node.config.maxOutboundBufferBytes) {
      this.#abortUnread()
      return undefined
    }
    this.#connection.send(Heartbeat.ACK_FRAME)
    GatewayMetrics.heartbeats.updateUnsafe(1, this.node.metrics)
    return undefined
  }

  /** Why a DISCOVER or signed PING is over its own rate (each costs a verification and a signature), if it is. */
  #overRequestRate(type: Envelope.Type, now: number): string | undefined {
    const { discoverRate, pingRate } = this.node.config
    if (type === "DISCOVER") {
      return TokenBucket.take(this.#discoverBucket ??= TokenBucket.make(discoverRate, now), now) ? undefined : "too many DISCOVER requests"
    }
    if (type === "PING") {
      return TokenBucket.take(this.#pingBucket ??= TokenBucket.make(pingRate, now), now)
        ? undefined
        : "too many signed PINGs (the unsigned heartbeat frame is not limited by this rate)"
    }
    return undefined
  }

  /** A frame from a registered agent. */
  #registeredFrame(frame: string | Uint8Array): Work {
    const receivedAt = performance.now()
    const { clock, rates } = this.node
    const now = clock.currentTimeMillisUnsafe()
    if (!rates.sending.take(this.did!, now)) {
      return this.#inOrder(Effect.andThen(this.#sendError("RATE_LIMITED", "too many frames from this session"), this.#strike()))
    }
    if (typeof frame === "string" && Heartbeat.isShort(frame)) return this.#heartbeat(frame, now)
    const rules = this.#rules
    const read = Accept.read(frame, rules)
    if (Result.isFailure(read)) return this.#inOrder(this.#refuse(read.failure, frameSize(frame)))
    const candidate = read.success
    if (Envelope.relayedTypes.has(candidate.type)) return this.#inOrder(this.#relayChecked(candidate, now, receivedAt))
    // A gateway-bound request's own rate before its signature is checked: a session over it buys no verification.
    const overRate = this.#overRequestRate(candidate.type, now)
    if (overRate !== undefined) {
      return this.#inOrder(Effect.andThen(this.#sendError("RATE_LIMITED", overRate, candidate.header.id), this.#strike()))
    }
    const session = this
    return this.#inOrder(Effect.gen(function*() {
      const result = yield* Effect.result(Accept.completeEffect(candidate, rules))
      if (result._tag === "Failure") return yield* session.#refuse(result.failure)
      session.#lastActivity = now
      const { envelope } = result.success
      switch (envelope.type) {
        case "PING": {
          const { sequence } = envelope.payload
          return yield* session.#sendSigned({
            type: "PONG",
            to: session.did,
            correlation_id: envelope.id,
            payload: sequence === undefined ? {} : { sequence }
          })
        }
        case "DISCOVER":
          return yield* session.#discover(envelope)
        case "UNREGISTER":
          yield* session.#unregister()
          return yield* session.#closeAndEnd(CloseCode.normal, "unregistered")
      }
    }))
  }

  #discover(request: Envelope.Envelope<"DISCOVER">): Effect.Effect<void, Failure> {
    const session = this
    const { config, registry } = this.node
    return Effect.gen(function*() {
      // (Its rate was taken before the signature check, in `#registeredFrame`.)
      const page = yield* registry.discover({
        capability: request.payload.capability,
        tag: request.payload.tag,
        limit: request.payload.limit ?? 50,
        cursor: request.payload.cursor,
        exclude: session.did,
        maxBytes: config.maxMessageBytes - PEERS_OVERHEAD_BYTES
      }).pipe(Effect.result)
      if (page._tag === "Failure") return yield* session.#sendError("MALFORMED_MESSAGE", "unknown cursor", request.id)
      yield* session.#sendSigned({
        type: "PEERS",
        to: session.did,
        correlation_id: request.id,
        payload: {
          agents: [...page.success.agents],
          ...(page.success.nextCursor === undefined ? {} : { next_cursor: page.success.nextCursor })
        }
      })
    })
  }

  #unregister(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.did === undefined) return Effect.void
      const registered = this.did
      const { registry, router } = this.node
      const session = this
      return Effect.gen(function*() {
        yield* router.detach(registered, session.sessionId)
        if (yield* registry.unregister(registered, session.sessionId)) yield* Metric.modify(GatewayMetrics.agents, -1)
        session.did = undefined
      })
    })
  }

  // -------------------------------------------------------------------------
  // Driving the session
  // -------------------------------------------------------------------------

  /** Ends the session: no more frames are handled, and it leaves the directory (also if its lifecycle went wrong). */
  #ending(): Effect.Effect<void, StateMachine.InvalidTransition> {
    return Effect.suspend(() => {
      const stopped = this.#stop()
      return Result.isFailure(stopped) ? Effect.andThen(this.#unregister(), Effect.fail(stopped.failure)) : this.#unregister()
    })
  }

  /** No more frames are handled: held ones are dropped. */
  #stop(): Result.Result<SessionState.Phase, StateMachine.InvalidTransition> {
    if (this.#inbox !== undefined) this.#inbox.length = 0
    this.#inboxBytes = 0
    if (this.#checking !== undefined) this.#checking.length = 0
    return this.#enter("end")
  }

  /**
   * The work of a frame with the session's failures handled: a close by the gateway ends it; a
   * defect or an invalid transition is logged, and the session closes with 1011 and ends.
   */
  #settle(work: Effect.Effect<void, Failure>): Effect.Effect<void> {
    return work.pipe(
      Effect.catchTag("Closed", () => this.#ending()),
      Effect.catchCause((cause) =>
        Cause.hasInterruptsOnly(cause)
          ? Effect.void
          : Effect.andThen(
            Effect.logError("gateway session failed", cause),
            Effect.andThen(this.#close(1011, "internal error"), this.#ending())
          )
      ),
      logInvalid
    )
  }

  nextTurn(): void {
    this.#turnScheduled = false
    this.#handledInTurn = 0
    this.#bytesInTurn = 0
    this.#drain()
  }

  /** Its next frames wait for its next turn: after its address's other sessions, in turn with other addresses (`LoopShare`). */
  #scheduleTurn(): void {
    if (this.#turnScheduled) return
    this.#turnScheduled = true
    this.node.share.wait(this)
  }

  /** Runs the work of a frame (or of the watchdog); the session is busy until it is done. */
  #run(work: Effect.Effect<void, Failure>): void {
    const fiber = this.node.runFork(this.#settle(work))
    if (fiber.pollUnsafe() !== undefined) return
    this.#inFlight++
    fiber.addObserver(() => {
      if (--this.#inFlight > 0) return
      if (this.#endWhenIdle) {
        this.#endWhenIdle = false
        this.node.runFork(logInvalid(this.#ending()))
      } else {
        this.#drain()
      }
    })
  }

  /** The socket closed: work in progress (a registration, say) finishes first, then the session leaves the directory. */
  get closed(): Effect.Effect<void> {
    return logInvalid(Effect.suspend(() => {
      if (this.#inFlight === 0) return this.#ending()
      this.#endWhenIdle = true
      return Effect.asVoid(Effect.fromResult(this.#stop()))
    }))
  }

  end(code: number, reason: string): Effect.Effect<void> {
    return Effect.andThen(logInvalid(this.#close(code, reason)), this.closed)
  }

  /** Handles a frame; the time it takes (what runs at once of it) is charged to the loop's turn. */
  #handle(frame: string | Uint8Array): void {
    const { share } = this.node
    const startedAt = share.now()
    const phase = this.#phase
    const work = phase === "registered"
      ? this.#registeredFrame(frame)
      : phase === "awaitingRegister"
      ? this.#handshakeFrame(frame)
      : undefined
    if (work !== undefined) this.#run(work)
    share.spend(share.now() - startedAt)
  }

  /** Handles a frame now, within this turn's share. */
  #handleInTurn(frame: string | Uint8Array): void {
    if (this.#handledInTurn++ === 0) {
      queueMicrotask(() => {
        this.#handledInTurn = 0
        this.#bytesInTurn = 0
      })
    }
    this.#bytesInTurn += frameSize(frame)
    this.#handle(frame)
  }

  /** Whether `frame` may still be handled in this turn: within its frame count and byte budget. */
  #fitsTurn(frame: string | Uint8Array): boolean {
    return this.#handledInTurn === 0 ||
      (this.#handledInTurn < FRAMES_PER_TURN && this.#bytesInTurn + frameSize(frame) <= BYTES_PER_TURN)
  }

  /** Handles held frames until the session is busy again, holds none, or has had its turn (its own, or the loop's share). */
  #drain(): void {
    this.#runChecked()
    const inbox = this.#inbox
    while (this.#inFlight === 0 && this.#hasRoomToCheck() && inbox !== undefined && inbox.length > 0) {
      if (!this.#fitsTurn(inbox[0]!) || !this.node.share.mayRun(this.address)) return this.#scheduleTurn()
      const frame = inbox.shift()!
      this.#inboxBytes -= frameSize(frame)
      this.#handleInTurn(frame)
    }
    if (this.#paused && this.#inFlight === 0 && (inbox === undefined || inbox.length === 0)) {
      this.#paused = false
      this.#connection.resume()
    }
  }

  receive(frame: string | Uint8Array): void {
    if (this.#phase === "ended") return
    const inbox = this.#inbox
    if (
      this.#inFlight === 0 && (inbox === undefined || inbox.length === 0) && this.#fitsTurn(frame) &&
      this.#hasRoomToCheck() && this.node.share.mayRun(this.address)
    ) {
      return this.#handleInTurn(frame)
    }
    const held = inbox ?? (this.#inbox = [])
    held.push(frame)
    this.#inboxBytes += frameSize(frame)
    if (this.#inFlight === 0) this.#scheduleTurn()
    if (!this.#paused && (held.length >= INBOX_HIGH_WATER || this.#inboxBytes >= INBOX_HIGH_WATER_BYTES)) {
      this.#paused = true
      this.#connection.pause()
    }
  }

  get handshaking(): boolean {
    return this.#phase === "awaitingRegister"
  }

  /** Closes the session with TIMEOUT (handshake) or 4004 once nothing was accepted for its timeout. */
  expire(now: number): void {
    if (!SessionState.isOpen(this.#phase)) return
    const registered = this.#phase === "registered"
    const { config } = this.node
    if (now - this.#lastActivity < (registered ? config.sessionTimeoutMs : config.handshakeTimeoutMs)) return
    if (registered) return this.#run(this.#closeAndEnd(CloseCode.timeout, "session timeout"))
    const reason = "no REGISTER within the handshake timeout"
    this.#run(Effect.andThen(this.#sendError("TIMEOUT", reason), this.#closeAndEnd(CloseCode.handshakeFailed, reason)))
  }
}
