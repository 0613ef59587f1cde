/**
 * Signaling: what a peer connection needs to reach another agent — send OFFER, ANSWER,
 * ICE_CANDIDATE and BYE to a DID, and receive verified ones — as a Layer-provided service.
 *
 * `layerGateway` signals through a `GatewayClient`; `layerMemory` through an in-process
 * `SignalingHub` (tests, single-process apps). Both sign every envelope and verify every one they
 * deliver, so code tested on the hub runs the same security path as over a gateway.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Queue, Schema, type Scope, Stream } from "effect"
import * as Accept from "../protocol/Accept.ts"
import type { Did } from "../protocol/Did.ts"
import * as Envelope from "../protocol/Envelope.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as ReplayGuard from "../protocol/ReplayGuard.ts"
import { GatewayClient, type RelayedType, type SendError } from "./GatewayClient.ts"

/** A verified signaling message from another agent. */
export interface Signal<T extends RelayedType = RelayedType> {
  readonly from: Did
  readonly type: T
  readonly connectionId: string
  readonly payload: Envelope.Payload<T>
  /** The envelope's id (an ANSWER correlates to its OFFER's). */
  readonly id: string
  readonly correlationId: string | undefined
}

/** A signal that did not reach its destination (e.g. UNKNOWN_AGENT from the gateway). */
export interface Undelivered {
  readonly to: string
  readonly connectionId: string | undefined
  readonly code: string
}

/** A signal could not be sent. */
export class SignalingError extends Schema.TaggedError<SignalingError>()("SignalingError", {
  reason: Schema.String,
  cause: Schema.optional(Schema.Defect())
}) {}

/** Signaling between agents. */
export class Signaling extends Context.Service<Signaling, {
  /** The local agent's DID. */
  readonly self: Did
  /** Sends one signal; completes when it is handed to the transport. Returns the envelope id. */
  readonly send: <T extends RelayedType>(
    to: Did,
    type: T,
    payload: Envelope.Payload<T>,
    correlationId?: string
  ) => Effect.Effect<string, SignalingError>
  /** Verified signals addressed to this agent (one consumer: they wait for it). */
  readonly incoming: Stream.Stream<Signal>
  /** Signals the transport reported as not delivered. */
  readonly undelivered: Stream.Stream<Undelivered>
  /** Incoming frames refused by the acceptance checks (bad signature, replay…), never delivered. */
  readonly rejected: Stream.Stream<Accept.EnvelopeRejected>
}>()("aiconexus/client/Signaling") {
  /** Signaling through the gateway session of a `GatewayClient`. */
  static readonly layerGateway: Layer.Layer<Signaling, never, GatewayClient> = Layer.effect(
    Signaling,
    Effect.gen(function*() {
      const client = yield* GatewayClient
      return Signaling.of({
        self: client.did,
        send: (to, type, payload, correlationId) =>
          client.send(to, type, payload, correlationId).pipe(Effect.mapError(toSignalingError)),
        incoming: Stream.map(client.incoming, (accepted) => toSignal(accepted.envelope)),
        undelivered: Stream.map(client.undelivered, ({ code, connectionId, to }) => ({ to, connectionId, code })),
        rejected: client.rejections
      })
    })
  )

  /** Signaling through an in-process hub, for `identity`. */
  static readonly layerMemory = (identity: Identity.Identity): Layer.Layer<Signaling, never, SignalingHub> =>
    Layer.effect(Signaling, Effect.gen(function*() {
      type T = RelayedType
      const hub = yield* SignalingHub
      // Queues, not PubSubs: a frame must wait for its consumer, not vanish before it subscribed.
      const inbox = yield* Queue.dropping<string>(1024)
      const signals = yield* Queue.dropping<Signal>(1024)
      const undelivered = yield* Queue.dropping<Undelivered>(1024)
      const rejected = yield* Queue.dropping<Accept.EnvelopeRejected>(256)
      const replay = ReplayGuard.make()
      const context: Accept.AcceptContext = {
        maxFrameBytes: 64 * 1024,
        refuseType: (type) => (Envelope.relayedTypes.has(type as Envelope.Type) ? undefined : "UNSUPPORTED_TYPE"),
        checkTo: (header) => Effect.succeed(header.to === identity.did),
        replay
      }
      // Frames arrive as text, as over a gateway, and are verified before they become signals.
      yield* Stream.fromQueue(inbox).pipe(
        Stream.runForEach((frame) =>
          Accept.accept(frame, context).pipe(
            // `context` let only relayed types through; the check narrows the type.
            Effect.flatMap(({ envelope }) => Envelope.isRelayed(envelope) ? Queue.offer(signals, toSignal(envelope)) : Effect.void),
            Effect.catch((rejection) =>
              Effect.andThen(Queue.offer(rejected, rejection), Effect.logWarning("refused a signaling frame", rejection.message)))
          )
        ),
        Effect.forkScoped
      )
      yield* hub.attach(identity.did, inbox)
      return Signaling.of({
        self: identity.did,
        send: (to, type, payload, correlationId) =>
          Effect.gen(function*() {
            const envelope = yield* Envelope.make(identity, { type, to, payload, correlation_id: correlationId } as Envelope.Draft<T>)
            const delivered = yield* hub.deliver(to, Envelope.encode(envelope))
            if (!delivered) {
              const connectionId = (payload as { readonly connection_id?: string }).connection_id
              yield* Queue.offer(undelivered, { to, connectionId, code: "UNKNOWN_AGENT" })
            }
            return envelope.id
          }).pipe(Effect.mapError(toSignalingError)),
        incoming: Stream.fromQueue(signals),
        undelivered: Stream.fromQueue(undelivered),
        rejected: Stream.fromQueue(rejected)
      })
    }))
}

/** An in-process exchange of signaling frames between agents of one process. */
export class SignalingHub extends Context.Service<SignalingHub, {
  /** Makes `did` reachable; removed when the scope closes. */
  readonly attach: (did: string, inbox: Queue.Queue<string>) => Effect.Effect<void, never, Scope.Scope>
  /** Hands a frame to `to`; `false` when nobody has that DID. */
  readonly deliver: (to: string, frame: string) => Effect.Effect<boolean>
}>()("aiconexus/client/SignalingHub") {
  static readonly layer: Layer.Layer<SignalingHub> = Layer.sync(SignalingHub, () => {
    const inboxes = new Map<string, Queue.Queue<string>>()
    return {
      attach: (did, inbox) =>
        Effect.acquireRelease(
          Effect.sync(() => void inboxes.set(did, inbox)),
          () => Effect.sync(() => {
            if (inboxes.get(did) === inbox) inboxes.delete(did)
          })
        ),
      deliver: (to, frame) =>
        Effect.suspend(() => {
          const inbox = inboxes.get(to)
          return inbox === undefined ? Effect.succeed(false) : Effect.as(Queue.offer(inbox, frame), true)
        })
    }
  })
}

const toSignal = (envelope: Envelope.Envelope<RelayedType>): Signal => ({
  from: envelope.from,
  type: envelope.type,
  connectionId: envelope.payload.connection_id,
  payload: envelope.payload,
  id: envelope.id,
  correlationId: envelope.correlation_id
})

const toSignalingError = (cause: SendError | { readonly _tag: string; readonly message: string }) =>
  new SignalingError({ reason: cause.message || cause._tag, cause })
