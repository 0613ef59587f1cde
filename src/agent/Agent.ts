/**
 * The Agent: what a developer of AI agents uses. It registers with its capabilities, discovers
 * peers, opens sessions over WebRTC (`connect`) or accepts them (`sessions`), and on a session
 * sends INTENTs and calls capabilities (`request`), or serves capabilities with handlers.
 *
 * Requests are one response each (`partial` streams are not built yet). Its metrics are in
 * `PeerMetrics`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Deferred, Effect, Layer, Metric, Option, Queue, Schema, type Scope, Stream } from "effect"
import type { WebSocketConstructor } from "effect/socket/Socket"
import { GatewayClient, type GatewayClientConfig } from "../client/GatewayClient.ts"
import type { KnownGateways } from "../client/KnownGateways.ts"
import { Signaling } from "../client/Signaling.ts"
import type { Did } from "../protocol/Did.ts"
import * as Envelope from "../protocol/Envelope.ts"
import type * as Identity from "../protocol/Identity.ts"
import type * as CandidatePolicy from "../webrtc/CandidatePolicy.ts"
import { type ConnectError, Connector, type PeerLink } from "../webrtc/Connector.ts"
import * as ControlChannel from "../webrtc/ControlChannel.ts"
import * as PeerMetrics from "../webrtc/PeerMetrics.ts"
import type { Transport } from "../webrtc/Transport.ts"

/** The arguments of a capability call (a JSON object). */
export type JsonArgs = (typeof Envelope.JsonObject)["Type"]

/** A capability call failed: the peer answered `error`, or not in time. */
export class RequestFailed extends Schema.TaggedError<RequestFailed>()("RequestFailed", {
  capability: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {}

/** A capability handler: the request's args in, a JSON result out. */
export type Handler = (args: JsonArgs, from: Did) => Effect.Effect<Envelope.Payload<"EXEC_RESPONSE">["result"], unknown>

/** A session with another agent over one peer connection. */
export interface PeerSession {
  readonly remote: Did
  readonly link: PeerLink
  /** INTENTs the peer sent. */
  readonly intents: Stream.Stream<Envelope.Payload<"INTENT">>
  readonly intent: (payload: Envelope.Payload<"INTENT">) => Effect.Effect<void, RequestFailed>
  /** Calls a capability of the peer; fails typed on an `error` answer or after `timeoutMs`. */
  readonly request: (
    capability: string,
    args: JsonArgs,
    options?: { readonly timeoutMs?: number }
  ) => Effect.Effect<Envelope.Payload<"EXEC_RESPONSE">["result"], RequestFailed>
  /** Ends when the connection ends. */
  readonly ended: Effect.Effect<void>
  readonly close: Effect.Effect<void>
}

/** How an agent runs. */
export interface AgentConfig extends Omit<GatewayClientConfig, "capabilities"> {
  readonly identity: Identity.Identity
  /** Capabilities it serves, each with its handler. */
  readonly serve?: ReadonlyArray<{ readonly capability: Envelope.Capability; readonly handler: Handler }>
  /** Which DIDs may open a session (default: all). */
  readonly acceptPolicy?: (remote: Did) => Effect.Effect<boolean>
  readonly candidatePolicy?: CandidatePolicy.CandidatePolicy
  readonly connectTimeoutMs?: number
  /** Whether `remote` may call `capability` (checked per request, apart from the accept policy). Default: yes. */
  readonly authorize?: (remote: Did, capability: string) => Effect.Effect<boolean>
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
    Layer.effect(Agent, make(config)).pipe(
      Layer.provide(Connector.layerWithGateway({
        ...(config.acceptPolicy === undefined ? {} : { acceptPolicy: config.acceptPolicy }),
        ...(config.candidatePolicy === undefined ? {} : { candidatePolicy: config.candidatePolicy }),
        ...(config.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: config.connectTimeoutMs })
      }).pipe(Layer.provide(Signaling.layerGateway))),
      Layer.provideMerge(GatewayClient.layer({ ...config, capabilities: (config.serve ?? []).map((s) => s.capability) }))
    )
}

/** What `Agent.layer` needs besides the Transport: a WebSocket constructor and the gateway pins. */
export type AgentPlatform = WebSocketConstructor | KnownGateways

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000

const make = (config: AgentConfig) =>
  Effect.gen(function*() {
    const client = yield* GatewayClient
    const connector = yield* Connector
    const handlers = new Map((config.serve ?? []).map((s) => [s.capability.id, s.handler]))
    const sessions = yield* Queue.unbounded<PeerSession>()

    /** A session over an open link: its control channel, requests in flight and served. */
    const session = (link: PeerLink): Effect.Effect<PeerSession, never, Scope.Scope> =>
      Effect.gen(function*() {
        const control = yield* ControlChannel.make(link, config.identity)
        const intents = yield* Queue.unbounded<Envelope.Payload<"INTENT">>()
        const waiting = new Map<string, Deferred.Deferred<Envelope.Payload<"EXEC_RESPONSE">>>()
        // Requests being served, by id, so EXEC_CANCEL can interrupt their handler.
        const running = new Map<string, Deferred.Deferred<void>>()
        const serve = (envelope: Envelope.Envelope<"EXEC_REQUEST">) =>
          Effect.gen(function*() {
            const started = yield* Clock.currentTimeMillis
            const handler = handlers.get(envelope.payload.capability)
            const respond = (payload: Envelope.Payload<"EXEC_RESPONSE">) =>
              Effect.ignore(control.send({ type: "EXEC_RESPONSE", correlation_id: envelope.id, payload }))
            if (handler === undefined) {
              return yield* respond({ status: "error", error: { code: "UNKNOWN_CAPABILITY", message: `no capability ${envelope.payload.capability.slice(0, 128)}` } })
            }
            if (config.authorize !== undefined && !(yield* config.authorize(link.remote, envelope.payload.capability))) {
              return yield* respond({ status: "error", error: { code: "UNAUTHORIZED", message: "not allowed to call this capability" } })
            }
            const timeoutMs = envelope.payload.timeout_ms ?? DEFAULT_REQUEST_TIMEOUT_MS
            const cancelled = yield* Deferred.make<void>()
            running.set(envelope.id, cancelled)
            const outcome = yield* handler(envelope.payload.args, link.remote).pipe(
              Effect.timeoutOption(timeoutMs),
              Effect.map(Option.some),
              // EXEC_CANCEL interrupts the handler.
              Effect.raceFirst(Effect.as(Deferred.await(cancelled), Option.none())),
              Effect.result,
              Effect.ensuring(Effect.sync(() => running.delete(envelope.id)))
            )
            const elapsed = (yield* Clock.currentTimeMillis) - started
            if (outcome._tag === "Success" && Option.isNone(outcome.success)) {
              return yield* respond({ status: "error", error: { code: "CANCELLED", message: "cancelled by the caller" }, execution_time_ms: elapsed })
            }
            const result = outcome._tag === "Failure" ? outcome : { _tag: "Success" as const, success: Option.getOrThrow(outcome.success) }
            if (result._tag === "Failure") {
              return yield* respond({ status: "error", error: { code: "INTERNAL_ERROR", message: "the handler failed" }, execution_time_ms: elapsed })
            }
            if (Option.isNone(result.success)) {
              return yield* respond({ status: "error", error: { code: "TIMEOUT", message: `no result within ${timeoutMs} ms` }, execution_time_ms: elapsed })
            }
            const value = result.success.value
            return yield* respond(value === undefined
              ? { status: "success", execution_time_ms: elapsed }
              : { status: "success", result: value, execution_time_ms: elapsed })
          })
        yield* control.envelopes.pipe(
          Stream.runForEach(({ envelope }) => {
            switch (envelope.type) {
              case "INTENT":
                return Queue.offer(intents, (envelope as Envelope.Envelope<"INTENT">).payload)
              case "EXEC_REQUEST":
                return Effect.forkScoped(serve(envelope as Envelope.Envelope<"EXEC_REQUEST">))
              case "EXEC_CANCEL": {
                const request = envelope.correlation_id === undefined ? undefined : running.get(envelope.correlation_id)
                return request === undefined ? Effect.void : Deferred.succeed(request, undefined)
              }
              case "EXEC_RESPONSE": {
                const waiter = envelope.correlation_id === undefined ? undefined : waiting.get(envelope.correlation_id)
                return waiter === undefined ? Effect.void : Deferred.succeed(waiter, (envelope as Envelope.Envelope<"EXEC_RESPONSE">).payload)
              }
              default:
                return Effect.void
            }
          }),
          Effect.forkScoped
        )
        const failed = (capability: string, code: string, reason: string) => new RequestFailed({ capability, code, reason })
        const countFailure = (error: RequestFailed) => Metric.update(PeerMetrics.requestErrors(error.code), 1)
        return {
          remote: link.remote,
          link,
          intents: Stream.fromQueue(intents),
          intent: (payload) =>
            Effect.asVoid(control.send({ type: "INTENT", payload })).pipe(
              Effect.mapError(() => failed("INTENT", "CANCELLED", "the control channel is closed"))
            ),
          request: (capability, args, options) =>
            Effect.gen(function*() {
              const timeoutMs = options?.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS
              const answer = yield* Deferred.make<Envelope.Payload<"EXEC_RESPONSE">>()
              // The waiter is registered before the request leaves: the answer can be quick.
              const id = yield* control.sendWith(
                { type: "EXEC_REQUEST", payload: { capability, args, timeout_ms: timeoutMs } },
                (id) => Effect.sync(() => void waiting.set(id, answer))
              ).pipe(Effect.mapError(() => failed(capability, "CANCELLED", "the control channel is closed")))
              const response = yield* Deferred.await(answer).pipe(
                // The caller gave up (its fiber was interrupted): tell the peer to stop.
                Effect.onInterrupt(() => Effect.ignore(control.send({ type: "EXEC_CANCEL", correlation_id: id, payload: {} }))),
                Effect.raceFirst(Effect.andThen(link.ended, Effect.fail(failed(capability, "CANCELLED", "the session ended")))),
                Effect.timeoutOrElse({ duration: timeoutMs, orElse: () => Effect.fail(failed(capability, "TIMEOUT", `no answer within ${timeoutMs} ms`)) }),
                Effect.ensuring(Effect.sync(() => waiting.delete(id)))
              )
              if (response.status === "error") {
                return yield* failed(capability, response.error?.code ?? "ERROR", response.error?.message ?? "the peer answered with an error")
              }
              return response.result
            }).pipe(Effect.tapError(countFailure)),
          ended: link.ended,
          close: link.close
        } satisfies PeerSession
      })

    yield* connector.incoming.pipe(
      Stream.runForEach((link) => Effect.flatMap(session(link), (s) => Queue.offer(sessions, s))),
      Effect.forkScoped
    )

    return Agent.of({
      did: config.identity.did,
      discover: (query) => Effect.map(client.discover(query), (page) => page.agents),
      connect: (remote) => Effect.flatMap(connector.connect(remote), session),
      sessions: Stream.fromQueue(sessions)
    })
  })
