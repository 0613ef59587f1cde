/**
 * Signed envelopes over a link's `ioap` control channel (PROTOCOL.md 5.3), and the liveness check
 * of its connection. The layers, bottom up: `DataChannel` (one data channel of a peer connection),
 * `LinkChannel` (the link's `ioap` channel across rebuilds of its connection), this module
 * (envelopes on it). `FramedChannel` is the other use of a data channel: large messages in frames.
 *
 * Every envelope received passes `Accept.accept` with a per-connection replay record: `from` must
 * be the peer the connection was negotiated with and `to` the local agent. PING is answered with
 * PONG here; the other envelopes are handed on. Each side pings every `pingIntervalMs`; when
 * nothing arrives on the channel for `livenessTimeoutMs / 2` the connection is marked
 * `disconnected`, and at `livenessTimeoutMs` `failed` — the only way to notice a peer that vanished
 * with some stacks (node-datachannel has no ICE consent timeout setting). Hearing the peer again
 * marks it `connected` again (how a recovering link notices that an ICE restart worked); with a
 * rebuilt connection (see `LinkRecovery`) the check follows the link's new connection.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Queue, Schema, type Scope, Stream } from "effect"
import * as Accept from "../../protocol/Accept.ts"
import * as Envelope from "../../protocol/Envelope.ts"
import type { CryptoError } from "../../protocol/Ed25519.ts"
import type * as Identity from "../../protocol/Identity.ts"
import * as ReplayGuard from "../../protocol/ReplayGuard.ts"
import { fitsUtf8Bytes, utf8ByteLength } from "../../protocol/Utf8.ts"
import type { PeerLink } from "./Link.ts"
import type * as DataChannel from "../peer/DataChannel.ts"
import type { ConnectionReestablished } from "./RecoveryEvents.ts"

/** Control-channel types an agent accepts from its peer. */
const CONTROL_TYPES: ReadonlySet<string> = new Set(["INTENT", "EXEC_REQUEST", "EXEC_RESPONSE", "EXEC_CANCEL", "PING", "PONG", "ERROR"])

/** The largest envelope on the control channel (PROTOCOL.md 5.3); the receiver refuses larger ones. */
export const MAX_ENVELOPE_BYTES = 64 * 1024

/** An envelope over `MAX_ENVELOPE_BYTES` was not sent: the peer would refuse it. */
export class EnvelopeTooLarge extends Schema.TaggedError<EnvelopeTooLarge>()("EnvelopeTooLarge", {
  size: Schema.Number,
  max: Schema.Number
}) {}

/** Why an envelope was not sent. */
export type SendError =
  | CryptoError
  | Envelope.UnsignableEnvelope
  | EnvelopeTooLarge
  | DataChannel.ChannelClosed
  | DataChannel.MessageTooLarge
  | ConnectionReestablished

/** Whether `u` is an `EnvelopeTooLarge`. */
export const isEnvelopeTooLarge = (u: unknown): u is EnvelopeTooLarge => u instanceof EnvelopeTooLarge

/** Liveness settings. */
export interface LivenessOptions {
  /** How often to ping the peer (default 5 s). */
  readonly pingIntervalMs?: number
  /** Silence after which the connection is failed (default 15 s); `disconnected` at half of it. */
  readonly livenessTimeoutMs?: number
}

/** Envelopes over a link's control channel. */
export interface EnvelopeChannel {
  /** Accepted envelopes other than PING and PONG (one consumer). */
  readonly envelopes: Stream.Stream<Accept.Accepted>
  /** Envelopes the peer sent that were refused (bad signature, replay, wrong DID…). */
  readonly rejected: Stream.Stream<Accept.EnvelopeRejected>
  /** Signs and sends an envelope to the peer; returns its id. */
  readonly send: <T extends Envelope.Type>(draft: Omit<Envelope.Draft<T>, "to">) => Effect.Effect<string, SendError>
  /**
   * Signs an envelope and runs `beforeSend` with its id before sending it, so whoever waits for
   * the answer is registered before the answer can arrive.
   */
  readonly sendWith: <T extends Envelope.Type>(
    draft: Omit<Envelope.Draft<T>, "to">,
    beforeSend: (id: string) => Effect.Effect<void>
  ) => Effect.Effect<string, SendError>
}

/** Runs the control channel of `link` for `identity`, in the current scope. */
export const make = (
  link: PeerLink,
  identity: Identity.Identity,
  options: LivenessOptions = {}
): Effect.Effect<EnvelopeChannel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const pingIntervalMs = options.pingIntervalMs ?? 5_000
    const livenessTimeoutMs = options.livenessTimeoutMs ?? 15_000
    const envelopes = yield* Queue.dropping<Accept.Accepted>(1024)
    const rejected = yield* Queue.dropping<Accept.EnvelopeRejected>(256)
    const context: Accept.AcceptContext = {
      maxFrameBytes: MAX_ENVELOPE_BYTES,
      refuseType: (type) => (CONTROL_TYPES.has(type) ? undefined : "UNSUPPORTED_TYPE"),
      expectedFrom: link.remote,
      checkTo: (header) => Effect.succeed(header.to === identity.did),
      replay: ReplayGuard.make({ maxPerSender: 8192, maxTotal: 8192 })
    }
    let lastHeard = yield* Clock.currentTimeMillis

    const sendWith = <T extends Envelope.Type>(draft: Omit<Envelope.Draft<T>, "to">, beforeSend: (id: string) => Effect.Effect<void>) =>
      Effect.gen(function*() {
        const envelope = yield* Envelope.make(identity, { ...draft, to: link.remote } as Envelope.Draft<T>)
        const frame = Envelope.encode(envelope)
        // Counting every byte is only needed for the error: most frames fit by their length alone.
        if (!fitsUtf8Bytes(frame, MAX_ENVELOPE_BYTES)) {
          return yield* new EnvelopeTooLarge({ size: utf8ByteLength(frame), max: MAX_ENVELOPE_BYTES })
        }
        yield* beforeSend(envelope.id)
        // PING and PONG go out at once even while the link recovers: they are how it notices that
        // the path works again. Other envelopes wait for the outcome of a recovery (`LinkChannel`).
        yield* draft.type === "PING" || draft.type === "PONG" ? link.control.sendNow(frame) : link.control.send(frame)
        return envelope.id
      })
    const send = <T extends Envelope.Type>(draft: Omit<Envelope.Draft<T>, "to">) => sendWith(draft, () => Effect.void)

    const receive = (frame: string | Uint8Array) =>
      Effect.gen(function*() {
        lastHeard = yield* Clock.currentTimeMillis
        const result = yield* Effect.result(Accept.accept(frame, context))
        if (result._tag === "Failure") {
          yield* Queue.offer(rejected, result.failure)
          return
        }
        const { envelope } = result.success
        if (envelope.type === "PING") {
          const { sequence } = envelope.payload
          yield* Effect.ignore(send({ type: "PONG", correlation_id: envelope.id, payload: sequence === undefined ? {} : { sequence } }))
        } else if (envelope.type !== "PONG") {
          yield* Queue.offer(envelopes, result.success)
        }
      })
    yield* link.control.messages.pipe(Stream.runForEach(receive), Effect.forkScoped)

    // Liveness: ping, and judge the silence of the link's current connection (a rebuilt one starts
    // its own count); the connection decides what the silence means for its state (see
    // `PeerConnection.silentPastTimeout`, `silentPastHalfTimeout` and `heard`).
    let judged = link.peer
    const judge = Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      if (link.peer !== judged) {
        judged = link.peer
        lastHeard = now
      }
      const silence = now - lastHeard
      if (silence >= livenessTimeoutMs) {
        if (yield* judged.silentPastTimeout) yield* Effect.logWarning("peer silent past the liveness timeout: connection failed")
      } else if (silence >= livenessTimeoutMs / 2) {
        yield* judged.silentPastHalfTimeout
      } else {
        yield* judged.heard
      }
    })
    let sequence = 0
    yield* Effect.gen(function*() {
      while (true) {
        yield* Effect.ignore(send({ type: "PING", payload: { sequence: sequence++ } }))
        yield* Effect.sleep(Math.min(pingIntervalMs, livenessTimeoutMs / 4))
        yield* judge
      }
    }).pipe(Effect.forkScoped)

    return {
      envelopes: Stream.fromQueue(envelopes),
      rejected: Stream.fromQueue(rejected),
      send,
      sendWith
    }
  })
