/**
 * The Agent: what a developer of AI agents uses. It registers with its capabilities, discovers
 * peers, opens sessions over WebRTC (`connect`) or accepts them (`sessions`), and on a session
 * sends INTENTs and calls capabilities (`request`), or serves capabilities with handlers.
 *
 * Capabilities answer with one response or a stream of `partial` ones. Its metrics are in
 * `PeerMetrics`.
 *
 * @since 0.1.0
 */
import { Cause, Clock, Context, Deferred, Effect, Layer, Metric, Queue, Schema, type Scope, Stream } from "effect"
import type { WebSocketConstructor } from "effect/socket/Socket"
import { GatewayClient, type GatewayClientConfig } from "../client/GatewayClient.ts"
import type { KnownGateways } from "../client/KnownGateways.ts"
import { Signaling } from "../client/Signaling.ts"
import * as Describe from "../protocol/Describe.ts"
import type { Did } from "../protocol/Did.ts"
import * as Envelope from "../protocol/Envelope.ts"
import type * as Identity from "../protocol/Identity.ts"
import type * as CandidatePolicy from "../webrtc/peer/CandidatePolicy.ts"
import { type ConnectError, Connector, type PeerLink } from "../webrtc/link/Connector.ts"
import * as EnvelopeChannel from "../webrtc/link/EnvelopeChannel.ts"
import * as PeerMetrics from "../webrtc/peer/PeerMetrics.ts"
import type { RecoveryOptions } from "../webrtc/link/LinkRecovery.ts"
import type { IceTransportPolicy, Transport } from "../webrtc/peer/Transport.ts"
import { isCapabilityError } from "./CapabilityError.ts"
import * as PeerLimits from "./PeerLimits.ts"

/** The arguments of a capability call (a JSON object). */
export type JsonArgs = (typeof Envelope.JsonObject)["Type"]

/** A capability call failed: the peer answered `error`, or not in time. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", {
  capability: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.capability} failed (${this.code}): ${this.reason}`
  }
}

/**
 * A session was closed because the peer sent more than the application took: `limit` says
 * which inbox (`intents`), `max` its size. The `intents` Stream fails with it.
 */
export class SessionOverloaded extends Schema.TaggedError<SessionOverloaded>()("SessionOverloaded", {
  remote: Schema.String,
  limit: Schema.String,
  max: Schema.Number
}) {
  override get message() {
    return `session with ${this.remote} closed: more than ${this.max} ${this.limit} waiting unread`
  }
}

/** A result of a capability call (any I-JSON value). */
export type Result = Envelope.Payload<"EXEC_RESPONSE">["result"]

/** A capability handler: the request's args in, a JSON result out. */
export type Handler = (args: JsonArgs, from: Did) => Effect.Effect<Result, unknown>

/** A streaming capability handler: each element is sent as a `partial` response, then a final `success`. */
export type StreamHandler = (args: JsonArgs, from: Did) => Stream.Stream<Result, unknown>

/**
 * A capability an agent serves, answered by a `handler` or, streamed, by a `stream`; its
 * `inputSchema` (a JSON Schema of `args`) is answered by `ioap.describe` (see `Capability.make`
 * to derive it from an `effect/Schema`). A handler that fails with a `CapabilityError` answers
 * its code and reason.
 */
export type Served =
  | { readonly capability: Envelope.Capability; readonly handler: Handler; readonly inputSchema?: Describe.InputSchema }
  | { readonly capability: Envelope.Capability; readonly stream: StreamHandler; readonly inputSchema?: Describe.InputSchema }

/** A session with another agent over one peer connection. */
export interface PeerSession {
  readonly remote: Did
  readonly link: PeerLink
  /**
   * INTENTs the peer sent. At most `limits.maxPendingIntents` wait unread: one more closes the
   * session and the Stream fails with `SessionOverloaded` (after those it held).
   */
  readonly intents: Stream.Stream<Envelope.Payload<"INTENT">, SessionOverloaded>
  readonly intent: (payload: Envelope.Payload<"INTENT">) => Effect.Effect<void, RequestFailed>
  /**
   * Calls a capability of the peer; fails typed on an `error` answer or after `timeoutMs`. A
   * streamed answer is collected: the partial results, then the final one if it has a result.
   */
  readonly request: (capability: string, args: JsonArgs, options?: RequestOptions) => Effect.Effect<Result, RequestFailed>
  /**
   * Calls a capability with `stream: true`: its partial results, then the final one if it has a
   * result, as a Stream. At most `bufferSize` results wait unread; a peer that sends more while the
   * consumer is slow is cancelled and the Stream fails with OVERFLOW. Ending the Stream early
   * cancels the call at the peer.
   */
  readonly requestStream: (capability: string, args: JsonArgs, options?: RequestOptions) => Stream.Stream<Result, RequestFailed>
  /** Ends when the connection ends. */
  readonly ended: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/** Options of a capability call. */
export interface RequestOptions {
  /** Deadline for the whole answer (default 30 s); it is also sent to the peer as `timeout_ms`. */
  readonly timeoutMs?: number
  /** Results a caller holds unread before the call is cancelled with OVERFLOW (default 256). */
  readonly bufferSize?: number
}

/** How an agent runs. */
export interface AgentConfig extends Omit<GatewayClientConfig, "capabilities"> {
  readonly identity: Identity.Identity
  /** Capabilities it serves, each with its handler (`ioap.describe` is served for them, reserved). */
  readonly serve?: ReadonlyArray<Served>
  /** Which DIDs may open a session (default: all). */
  readonly acceptPolicy?: (remote: Did) => Effect.Effect<boolean>
  readonly candidatePolicy?: CandidatePolicy.CandidatePolicy
  /** "relay": connect through TURN relays only, never host or srflx paths (default "all"). */
  readonly iceTransportPolicy?: IceTransportPolicy
  readonly connectTimeoutMs?: number
  /** PING interval and deadline on each session's control channel (defaults 5 s and 15 s). */
  readonly liveness?: EnvelopeChannel.LivenessOptions
  /** Recover sessions whose network path broke (ICE restart or a rebuilt connection; see `LinkRecovery`). Default: off. */
  readonly recovery?: RecoveryOptions | boolean
  /** Whether `remote` may call `capability` (checked per request, apart from the accept policy). Default: yes. */
  readonly authorize?: (remote: Did, capability: string) => Effect.Effect<boolean>
  /** What peers are granted: sessions, waiting sessions, concurrent requests, unread INTENTs (`PeerLimits.defaults`). */
  readonly limits?: Partial<PeerLimits.PeerLimits>
}

/** An agent. */
export class Agent extends Context.Service<Agent, {
  readonly did: Did
  readonly discover: (query: Envelope.Payload<"DISCOVER">) => Effect.Effect<ReadonlyArray<Envelope.PeerEntry>, unknown>
  /** Opens a session with `remote`; it ends with the scope or `close`. */
  readonly connect: (remote: Did) => Effect.Effect<PeerSession, ConnectError, Scope.Scope>
  /** Sessions other agents opened (one consumer). */
  readonly sessions: Stream.Stream<PeerSession>
}>()("aiconexus/agent/Agent") {
  /** An agent with its gateway client, over `transport` (a Transport Layer). */
  static readonly layer = (config: AgentConfig): Layer.Layer<Agent | GatewayClient, never, Transport | AgentPlatform> =>
    Layer.unwrap(Effect.sync(() => {
      // The session limits are applied in the accept policy, before anything is created.
      const admission = PeerLimits.make(config.limits)
      const acceptPolicy = (remote: Did) => {
        const refusal = admission.refuseSession(remote)
        if (refusal === undefined) return config.acceptPolicy === undefined ? Effect.succeed(true) : config.acceptPolicy(remote)
        return Effect.as(Metric.update(PeerMetrics.overloads(refusal.limit), 1), { code: refusal.code, reason: refusal.reason })
      }
      return Layer.effect(Agent, make(config, admission)).pipe(
        Layer.provide(Connector.layerWithGateway({
          acceptPolicy,
          ...(config.candidatePolicy === undefined ? {} : { candidatePolicy: config.candidatePolicy }),
          ...(config.iceTransportPolicy === undefined ? {} : { iceTransportPolicy: config.iceTransportPolicy }),
          ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs }),
          ...(config.recovery === undefined ? {} : { recovery: config.recovery })
        }).pipe(Layer.provide(Signaling.layerGateway))),
        Layer.provideMerge(GatewayClient.layer({ ...config, capabilities: servedBy(config).map((s) => s.capability) }))
      )
    }))

  /**
   * An agent over a Connector of your own (its signaling, transport and policies; the Connector
   * options of `config` are not used) and the GatewayClient it is registered with. The session
   * limits then apply when a session arrives (one over them is closed), not in the accept policy.
   */
  static readonly layerWithConnector = (config: AgentConfig): Layer.Layer<Agent, never, GatewayClient | Connector> =>
    Layer.effect(Agent, Effect.suspend(() => make(config, PeerLimits.make(config.limits))))
}

/**
 * The code of a call that failed because its connection was rebuilt (`RecoveryEvents.Reestablished`):
 * the answer, or the request, was lost with the old connection. A local code, never sent.
 */
export const CONNECTION_REESTABLISHED = "CONNECTION_REESTABLISHED"

/** What `Agent.layer` needs besides the Transport: a WebSocket constructor and the gateway pins. */
export type AgentPlatform = WebSocketConstructor | KnownGateways

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000
const DEFAULT_BUFFER_SIZE = 256

/** A served capability as one Effect: `partial` sends a partial result (stream handlers use it). */
type Serve = (args: JsonArgs, from: Did, partial: (result: Result) => Effect.Effect<void, unknown>) => Effect.Effect<Result, unknown>

/** The answer for a result too large for one envelope. */
const tooLarge = (error: EnvelopeChannel.EnvelopeTooLarge, elapsed: number | undefined): Envelope.Payload<"EXEC_RESPONSE"> => ({
  status: "error",
  error: { code: "MESSAGE_TOO_LARGE", message: `a result of ${error.size} bytes is over one envelope (${error.max}); large results must be streamed` },
  ...(elapsed === undefined ? {} : { execution_time_ms: elapsed })
})

const toServe = (served: Served): Serve =>
  "handler" in served
    ? (args, from) => served.handler(args, from)
    : (args, from, partial) => Effect.as(Stream.runForEach(served.stream(args, from), partial), undefined)

/** The capabilities of `config.serve` but the reserved `ioap.describe`. */
const servedBy = (config: AgentConfig): ReadonlyArray<Served> => (config.serve ?? []).filter((s) => s.capability.id !== Describe.DESCRIBE)

/** `ioap.describe`: the served capabilities with their input schemas, one partial result per packed group. */
const describing = (served: ReadonlyArray<Served>): Serve => {
  const results = Describe.answers(served.map((s) => s.inputSchema === undefined ? s.capability : { ...s.capability, input_schema: s.inputSchema }))
  return (_args, _from, partial) => Effect.as(Effect.forEach(results, partial, { discard: true }), undefined)
}

const make = (config: AgentConfig, admission: PeerLimits.PeerAdmission) =>
  Effect.gen(function*() {
    const client = yield* GatewayClient
    const connector = yield* Connector
    const served = servedBy(config)
    const handlers = new Map([...served.map((s) => [s.capability.id, toServe(s)] as const), [Describe.DESCRIBE, describing(served)] as const])
    // Bounded by `admission`: past `maxWaitingSessions` waiting here, new sessions are refused (or closed on arrival).
    const sessions = yield* Queue.unbounded<PeerSession>()

    /** A session over an open link: its control channel, requests in flight and served. */
    const session = (link: PeerLink): Effect.Effect<PeerSession, never, Scope.Scope> =>
      Effect.gen(function*() {
        const control = yield* EnvelopeChannel.make(link, config.identity, config.liveness)
        yield* Metric.update(PeerMetrics.paths((yield* link.peer.stats).selectedPair), 1)
        // Bounded: the INTENT past `maxPendingIntents` closes the session (typed), it is not dropped silently.
        const maxIntents = admission.limits.maxPendingIntents
        const intents = yield* Queue.dropping<Envelope.Payload<"INTENT">, SessionOverloaded | Cause.Done>(maxIntents)
        let overloaded = false
        const intentsOverflowed = Effect.gen(function*() {
          overloaded = true
          yield* Metric.update(PeerMetrics.overloads("intent_inbox"), 1)
          Queue.failCauseUnsafe(intents, Cause.fail(new SessionOverloaded({ remote: link.remote, limit: "intents", max: maxIntents })))
          yield* Effect.forkScoped(link.close)
        })
        // Calls waiting for answers, by request id: each takes its responses as they come.
        const waiting = new Map<string, (response: Envelope.Payload<"EXEC_RESPONSE">) => void>()
        // Requests being served, by id, so EXEC_CANCEL can interrupt their handler.
        const running = new Map<string, Deferred.Deferred<void>>()
        const serve = (envelope: Envelope.Envelope<"EXEC_REQUEST">) =>
          Effect.gen(function*() {
            const started = yield* Clock.currentTimeMillis
            const handler = handlers.get(envelope.payload.capability)
            const send = (payload: Envelope.Payload<"EXEC_RESPONSE">) => control.send({ type: "EXEC_RESPONSE", correlation_id: envelope.id, payload })
            // A result over one envelope is answered MESSAGE_TOO_LARGE, not lost: large results are streamed.
            const respond = (payload: Envelope.Payload<"EXEC_RESPONSE">) =>
              send(payload).pipe(
                Effect.catchTag("EnvelopeTooLarge", (error) => send(tooLarge(error, payload.execution_time_ms))),
                Effect.ignore
              )
            if (handler === undefined) {
              return yield* respond({ status: "error", error: { code: "UNKNOWN_CAPABILITY", message: `no capability ${envelope.payload.capability.slice(0, 128)}` } })
            }
            if (config.authorize !== undefined && !(yield* config.authorize(link.remote, envelope.payload.capability))) {
              return yield* respond({ status: "error", error: { code: "UNAUTHORIZED", message: "not allowed to call this capability" } })
            }
            const timeoutMs = envelope.payload.timeout_ms ?? DEFAULT_REQUEST_TIMEOUT_MS
            const cancelled = yield* Deferred.make<void>()
            running.set(envelope.id, cancelled)
            // Each partial waits for the channel's send buffer: a slow path slows the handler.
            const partial = (result: Result) => send(result === undefined ? { status: "partial" } : { status: "partial", result })
            const outcome = yield* handler(envelope.payload.args, link.remote, partial).pipe(
              Effect.map((value) => ({ _tag: "Done", value }) as const),
              Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.succeed({ _tag: "Timeout" } as const) }),
              // EXEC_CANCEL interrupts the handler.
              Effect.raceFirst(Effect.as(Deferred.await(cancelled), { _tag: "Cancelled" } as const)),
              Effect.catch((error) => Effect.succeed({ _tag: "Failed", error } as const)),
              Effect.ensuring(Effect.sync(() => running.delete(envelope.id)))
            )
            const elapsed = (yield* Clock.currentTimeMillis) - started
            switch (outcome._tag) {
              case "Cancelled":
                return yield* respond({ status: "error", error: { code: "CANCELLED", message: "cancelled by the caller" }, execution_time_ms: elapsed })
              case "Failed":
                return yield* respond(
                  EnvelopeChannel.isEnvelopeTooLarge(outcome.error)
                    ? tooLarge(outcome.error, elapsed)
                    : isCapabilityError(outcome.error)
                    ? { status: "error", error: { code: outcome.error.code.slice(0, 64), message: outcome.error.reason.slice(0, 1024) }, execution_time_ms: elapsed }
                    : { status: "error", error: { code: "INTERNAL_ERROR", message: "the handler failed" }, execution_time_ms: elapsed }
                )
              case "Timeout":
                return yield* respond({ status: "error", error: { code: "TIMEOUT", message: `no result within ${timeoutMs} ms` }, execution_time_ms: elapsed })
              case "Done":
                return yield* respond(outcome.value === undefined
                  ? { status: "success", execution_time_ms: elapsed }
                  : { status: "success", result: outcome.value, execution_time_ms: elapsed })
            }
          })
        const refuseBusy = (envelope: Envelope.Envelope<"EXEC_REQUEST">) =>
          Effect.andThen(
            Metric.update(PeerMetrics.overloads("requests_per_peer"), 1),
            Effect.ignore(control.send({
              type: "EXEC_RESPONSE",
              correlation_id: envelope.id,
              payload: {
                status: "error",
                error: { code: "RATE_LIMITED", message: `more than ${admission.limits.maxConcurrentRequestsPerPeer} requests of this agent running` }
              }
            }))
          )
        yield* control.envelopes.pipe(
          Stream.runForEach(({ envelope }) => {
            switch (envelope.type) {
              case "INTENT":
                return overloaded || Queue.offerUnsafe(intents, envelope.payload)
                  ? Effect.void
                  : intentsOverflowed
              case "EXEC_REQUEST": {
                // At most `maxConcurrentRequestsPerPeer` handlers per peer: the caller is told RATE_LIMITED.
                if (!admission.requestStarted(link.remote)) return refuseBusy(envelope)
                return Effect.forkScoped(Effect.ensuring(
                  serve(envelope),
                  Effect.sync(() => admission.requestEnded(link.remote))
                ))
              }
              case "EXEC_CANCEL": {
                const request = envelope.correlation_id === undefined ? undefined : running.get(envelope.correlation_id)
                return request === undefined ? Effect.void : Deferred.succeed(request, undefined)
              }
              case "EXEC_RESPONSE": {
                const waiter = envelope.correlation_id === undefined ? undefined : waiting.get(envelope.correlation_id)
                return Effect.sync(() => waiter?.(envelope.payload))
              }
              default:
                return Effect.void
            }
          }),
          Effect.forkScoped
        )
        const failed = (capability: string, code: string, reason: string) => new RequestFailed({ capability, code, reason })
        const countFailure = (error: RequestFailed) => Metric.update(PeerMetrics.requestErrors(error.code), 1)
        const answeredError = (capability: string, response: Envelope.Payload<"EXEC_RESPONSE">) =>
          failed(capability, response.error?.code ?? "ERROR", response.error?.message ?? "the peer answered with an error")
        const notSent = (capability: string, error: EnvelopeChannel.SendError) =>
          error._tag === "EnvelopeTooLarge"
            ? failed(capability, "MESSAGE_TOO_LARGE", `the request is ${error.size} bytes, over one envelope (${error.max})`)
            : error._tag === "ConnectionReestablished"
            ? failed(capability, CONNECTION_REESTABLISHED, "the connection was rebuilt before the request was sent")
            : failed(capability, "CANCELLED", "the control channel is closed")
        const cancel = (id: string) => Effect.ignore(control.send({ type: "EXEC_CANCEL", correlation_id: id, payload: {} }))
        // A rebuilt connection lost what the old one had not delivered: the calls waiting for an
        // answer fail now (not at their timeout), and the peer is told to stop serving them.
        yield* link.events.pipe(
          Stream.runForEach((event) =>
            event._tag !== "Reestablished" ? Effect.void : Effect.forEach([...waiting.entries()], ([id, waiter]) =>
              Effect.andThen(
                Effect.sync(() => waiter({ status: "error", error: { code: CONNECTION_REESTABLISHED, message: "the connection was rebuilt: the request or its answer was lost" } })),
                Effect.forkScoped(cancel(id))
              ), { discard: true })),
          Effect.forkScoped
        )
        /** Sends an EXEC_REQUEST; `onResponse` is registered before it leaves (the answer can be quick). */
        const call = (capability: string, args: JsonArgs, timeoutMs: number, stream: boolean, onResponse: (response: Envelope.Payload<"EXEC_RESPONSE">) => void) =>
          control.sendWith(
            { type: "EXEC_REQUEST", payload: { capability, args, timeout_ms: timeoutMs, ...(stream ? { stream } : {}) } },
            (id) => Effect.sync(() => void waiting.set(id, onResponse))
          ).pipe(Effect.mapError((error) => notSent(capability, error)))
        return {
          remote: link.remote,
          link,
          intents: Stream.fromQueue(intents),
          intent: (payload) =>
            Effect.asVoid(control.send({ type: "INTENT", payload })).pipe(Effect.mapError((error) => notSent("INTENT", error))),
          request: (capability, args, options) =>
            Effect.gen(function*() {
              const timeoutMs = options?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
              const bufferSize = options?.bufferSize ?? DEFAULT_BUFFER_SIZE
              const answer = yield* Deferred.make<Envelope.Payload<"EXEC_RESPONSE">, RequestFailed>()
              const partials: Array<Exclude<Result, undefined>> = []
              const id = yield* call(capability, args, timeoutMs, false, (response) => {
                if (response.status !== "partial") return Deferred.doneUnsafe(answer, Effect.succeed(response))
                if (partials.length >= bufferSize) {
                  return Deferred.doneUnsafe(answer, Effect.fail(failed(capability, "OVERFLOW", `more than ${bufferSize} partial results`)))
                }
                if (response.result !== undefined) partials.push(response.result)
              })
              const response = yield* Deferred.await(answer).pipe(
                Effect.raceFirst(Effect.andThen(link.ended, Effect.fail(failed(capability, "CANCELLED", "the session ended")))),
                Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail(failed(capability, "TIMEOUT", `no answer within ${timeoutMs} ms`)) }),
                // The caller gave up (interrupted, timed out, overflowed): tell the peer to stop.
                Effect.onError(() => cancel(id)),
                Effect.ensuring(Effect.sync(() => waiting.delete(id)))
              )
              if (response.status === "error") {
                return yield* answeredError(capability, response)
              }
              if (partials.length === 0) return response.result
              return response.result === undefined ? partials : [...partials, response.result]
            }).pipe(Effect.tapError(countFailure)),
          requestStream: (capability, args, options) =>
            Stream.unwrap(Effect.gen(function*() {
              const timeoutMs = options?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
              const bufferSize = options?.bufferSize ?? DEFAULT_BUFFER_SIZE
              // One more place than the buffer: the final result always fits.
              const results = yield* Queue.bounded<Result, RequestFailed | Cause.Done>(bufferSize + 1)
              let finished = false
              // The peer sent its final or error answer: nothing to cancel.
              let answered = false
              const fail = (error: RequestFailed) => {
                if (finished) return
                finished = true
                Queue.failCauseUnsafe(results, Cause.fail(error))
              }
              const id = yield* call(capability, args, timeoutMs, true, (response) => {
                if (finished) return
                if (response.status !== "partial") answered = true
                if (response.status === "error") {
                  return fail(answeredError(capability, response))
                }
                if (response.status === "partial" && Queue.sizeUnsafe(results) >= bufferSize) {
                  return fail(failed(capability, "OVERFLOW", `more than ${bufferSize} results waiting unread`))
                }
                if (response.result !== undefined) Queue.offerUnsafe(results, response.result)
                if (response.status !== "partial") {
                  finished = true
                  Queue.endUnsafe(results)
                }
              })
              yield* Effect.addFinalizer(() =>
                Effect.andThen(
                  Effect.sync(() => waiting.delete(id)),
                  // Ended before the final answer (early exit, overflow, timeout): tell the peer to stop.
                  Effect.suspend(() => answered ? Effect.void : cancel(id))
                ))
              yield* Effect.forkScoped(Effect.andThen(Effect.sleep(timeoutMs), Effect.sync(() => fail(failed(capability, "TIMEOUT", `no final answer within ${timeoutMs} ms`)))))
              yield* Effect.forkScoped(Effect.andThen(link.ended, Effect.sync(() => fail(failed(capability, "CANCELLED", "the session ended")))))
              return Stream.fromQueue(results)
            })).pipe(Stream.tapError(countFailure)),
          ended: link.ended,
          close: link.close
        } satisfies PeerSession
      })

    // Sessions peers opened: counted until their link ends; over a limit (which the accept
    // policy applies first, when it is ours) the link is closed at once.
    yield* connector.incoming.pipe(
      Stream.runForEach((link) =>
        Effect.gen(function*() {
          if (!admission.sessionOpened(link.remote)) {
            const refusal = admission.refuseSession(link.remote)
            if (refusal !== undefined) yield* Metric.update(PeerMetrics.overloads(refusal.limit), 1)
            return yield* link.close
          }
          yield* Effect.forkScoped(Effect.andThen(link.ended, Effect.sync(() => admission.sessionEnded(link.remote))))
          const peerSession = yield* session(link)
          admission.sessionWaiting()
          yield* Queue.offer(sessions, peerSession)
        })),
      Effect.forkScoped
    )

    return Agent.of({
      did: config.identity.did,
      discover: (query) => Effect.map(client.discover(query), (page) => page.agents),
      connect: (remote) => Effect.flatMap(connector.connect(remote), session),
      sessions: Stream.map(Stream.fromQueue(sessions), (taken) => {
        admission.sessionTaken()
        return taken
      })
    })
  })
