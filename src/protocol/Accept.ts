/**
 * Accepting an envelope: PROTOCOL.md section 2, steps 1 to 11 in their order, then the record.
 *
 * One function for the gateway and for agents alike; what differs between them (which types are
 * accepted, who must be `from` and `to`) is the `AcceptContext`. It acts on the JSON it verified:
 * the value that was parsed is the value whose canonical form is checked against the signature,
 * and the value that is returned.
 *
 * @since 0.1.0
 */
import { Clock, Effect, Result, Schema } from "effect"
import * as Envelope from "./Envelope.ts"
import type { ErrorCode } from "./ErrorCode.ts"
import * as IJson from "./IJson.ts"
import type * as ReplayGuard from "./ReplayGuard.ts"
import * as Utf8 from "./Utf8.ts"

/** An envelope was refused; `code` is the PROTOCOL.md error code to answer with. */
export class EnvelopeRejected extends Schema.TaggedError<EnvelopeRejected>()("EnvelopeRejected", {
  code: Schema.String,
  reason: Schema.String,
  /** The section 2 step that refused it (12: the replay record was full). */
  step: Schema.Int,
  /** The offending envelope's `id`, when it could be read (unverified, for diagnostics). */
  correlation_id: Schema.optionalKey(Schema.String),
  details: Schema.optionalKey(Schema.Record(Schema.String, Schema.Json))
}) {
  override get message(): string {
    return `${this.code} (step ${this.step}): ${this.reason}`
  }
}

/** What decides, at one receiver, whether an envelope is accepted. */
export interface AcceptContext {
  /** Step 1: the largest frame in UTF-8 bytes. */
  readonly maxFrameBytes: number
  /** Binary frames are MALFORMED_MESSAGE ("reject", WebSocket and control channel) or UTF-8 text ("utf8"). */
  readonly binaryFrames?: "reject" | "utf8"
  /** Step 5: `undefined` when the type is accepted here, else the code to refuse it with. */
  readonly refuseType: (type: string) => ErrorCode | undefined
  /** Step 6: the DID `from` must be, when the receiver knows it. */
  readonly expectedFrom?: string | undefined
  /** Step 6, when who may send depends on the type (e.g. gateway-originated vs relayed frames). */
  readonly checkFrom?: (header: Envelope.Header) => boolean
  /** Step 7: whether `to` is right here (absent `to` was already checked against the type). */
  readonly checkTo: (header: Envelope.Header) => Effect.Effect<boolean>
  /** Step 8: the allowed clock difference in milliseconds, either way (default 60 000). */
  readonly skewMs?: number
  /** Steps 9 and 12: the replay record of this session or connection. */
  readonly replay: ReplayGuard.ReplayGuard
  /** Step 10: whether to verify the signature (default true; a gateway MAY skip it for relayed types). */
  readonly verifySignature?: (header: Envelope.Header) => boolean
}

/** An accepted envelope and the exact text it arrived as (what a gateway relays). */
export interface Accepted<T extends Envelope.Type = Envelope.Type> {
  readonly envelope: Envelope.Envelope<T>
  readonly text: string
}

const DEFAULT_SKEW_MS = 60_000
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const decodeHeader = Schema.decodeUnknownResult(Envelope.Header, { onExcessProperty: "error" })
const payloadDecoders = Object.fromEntries(
  Envelope.Types.map((type) => [type, Schema.decodeUnknownResult(Envelope.Payloads[type], { onExcessProperty: "error" })])
) as Record<Envelope.Type, (input: unknown) => Result.Result<unknown, Schema.SchemaError>>
const isUuid = Schema.is(Envelope.Uuid)

const firstLine = (error: Schema.SchemaError): string => error.message.split("\n", 2).join(" ").slice(0, 200)

/**
 * Runs the acceptance checks on one frame. Fails with `EnvelopeRejected` carrying the code of
 * the first failed step; on success the envelope's (`from`, `id`) is recorded.
 */
export const accept = Effect.fnUntraced(function*(
  frame: string | Uint8Array,
  context: AcceptContext
): Effect.fn.Return<Accepted, EnvelopeRejected> {
  let correlation_id: string | undefined
  const reject = (code: ErrorCode, step: number, reason: string, details?: Record<string, Schema.Json>) =>
    new EnvelopeRejected({
      code,
      step,
      reason,
      ...(correlation_id === undefined ? {} : { correlation_id }),
      ...(details === undefined ? {} : { details })
    })

  // 1. size
  const size = typeof frame === "string" ? frame.length : frame.byteLength
  if (typeof frame === "string" ? !Utf8.fitsUtf8Bytes(frame, context.maxFrameBytes) : size > context.maxFrameBytes) {
    return yield* reject("MESSAGE_TOO_LARGE", 1, `the frame is over ${context.maxFrameBytes} bytes`)
  }
  // 2. a text frame holding an I-JSON object
  let text: string
  if (typeof frame === "string") {
    text = frame
  } else if (context.binaryFrames === "utf8") {
    try {
      text = utf8Decoder.decode(frame)
    } catch {
      return yield* reject("MALFORMED_MESSAGE", 2, "the frame is not UTF-8")
    }
  } else {
    return yield* reject("MALFORMED_MESSAGE", 2, "binary frames are not accepted; send envelopes as text")
  }
  const parsed = IJson.parse(text)
  if (Result.isFailure(parsed)) return yield* reject("MALFORMED_MESSAGE", 2, parsed.failure.reason)
  const value = parsed.success
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return yield* reject("MALFORMED_MESSAGE", 2, "the frame is not a JSON object")
  }
  const object = value as { readonly [key: string]: IJson.Json }
  if (typeof object.id === "string" && isUuid(object.id)) correlation_id = object.id
  // 3. version
  if (Object.hasOwn(object, "version") && object.version !== "1.0") {
    return yield* reject("UNSUPPORTED_VERSION", 3, "this receiver speaks version \"1.0\"")
  }
  // 4. envelope members present and well-formed
  const decoded = decodeHeader(object)
  if (Result.isFailure(decoded)) return yield* reject("MALFORMED_MESSAGE", 4, firstLine(decoded.failure))
  const header = decoded.success
  if (header.to === undefined) {
    if (!Envelope.typesWithoutTo.has(header.type as Envelope.Type)) {
      return yield* reject("MALFORMED_MESSAGE", 4, `a ${header.type.slice(0, 64)} envelope needs "to"`)
    }
  } else if (header.to === header.from) {
    return yield* reject("MALFORMED_MESSAGE", 4, "\"to\" equals \"from\"")
  }
  // 5. type known and accepted here
  const refusal = Envelope.isType(header.type) ? context.refuseType(header.type) : context.refuseType(header.type) ?? "UNSUPPORTED_TYPE"
  if (refusal !== undefined) {
    return yield* reject(refusal, 5, `type ${JSON.stringify(header.type.slice(0, 64))} is not accepted here`)
  }
  const type = header.type as Envelope.Type
  // 6. from
  if (
    (context.expectedFrom !== undefined && header.from !== context.expectedFrom) ||
    (context.checkFrom !== undefined && !context.checkFrom(header))
  ) {
    return yield* reject("UNAUTHORIZED", 6, "\"from\" is not who may send this here")
  }
  // 7. to
  if (!(yield* context.checkTo(header))) {
    return yield* reject("UNKNOWN_AGENT", 7, "\"to\" is not a recipient this receiver serves")
  }
  // 8. timestamp within the skew
  const now = yield* Clock.currentTimeMillis
  const skew = context.skewMs ?? DEFAULT_SKEW_MS
  const sentAt = Envelope.timestampMillis(header.timestamp)
  if (Math.abs(now - sentAt) > skew) {
    return yield* reject("REPLAYED", 8, `the timestamp is more than ${skew} ms from the receiver's clock`, {
      server_time: Envelope.formatTimestamp(now)
    })
  }
  // 9. not accepted before
  const status = context.replay.check(header.from, header.id, now)
  if (status === "replayed") return yield* reject("REPLAYED", 9, "this (from, id) was accepted before")
  if (status === "full") return yield* reject("RATE_LIMITED", 9, "too many envelopes from this sender in the replay window")
  // 10. signature
  if (context.verifySignature === undefined || context.verifySignature(header)) {
    if (!(yield* Envelope.verify(header))) {
      return yield* reject("INVALID_SIGNATURE", 10, "the signature does not verify with the key of \"from\"")
    }
  }
  // 11. payload
  const payload = payloadDecoders[type](header.payload)
  if (Result.isFailure(payload)) return yield* reject("MALFORMED_MESSAGE", 11, `payload: ${firstLine(payload.failure)}`)
  // Record (from, id) until its own timestamp plus the skew.
  const recorded = context.replay.record(header.from, header.id, sentAt + skew, now)
  if (recorded === "replayed") return yield* reject("REPLAYED", 9, "this (from, id) was accepted before")
  if (recorded === "full") return yield* reject("RATE_LIMITED", 12, "too many envelopes from this sender in the replay window")
  return { envelope: { ...header, type, payload: payload.success } as Envelope.Envelope, text }
})
