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
  /**
   * Step 10: the key of `from` when the receiver validated that DID before (a gateway session,
   * the DID it registered with), which spares checking its curve point again; `undefined` otherwise.
   */
  readonly publicKeyOf?: (from: string) => Uint8Array | undefined
}

/** An accepted envelope and the exact text it arrived as (what a gateway relays). */
export interface Accepted<T extends Envelope.Type = Envelope.Type> {
  readonly envelope: Envelope.Envelope<T>
  readonly text: string
}

/**
 * A frame that passed steps 1 to 6: its header, its type and its text. Steps 7 to 11 and the
 * record remain (`accept` runs them all; a receiver with a synchronous step 7 and Ed25519 may
 * finish with `checkTo` and `complete`).
 */
export interface Candidate {
  readonly header: Envelope.Header
  readonly type: Envelope.Type
  readonly text: string
}

const DEFAULT_SKEW_MS = 60_000
const utf8Decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
const decodeHeader = Schema.decodeUnknownResult(Envelope.Header, { onExcessProperty: "error" })
const payloadDecoders = Object.fromEntries(
  Envelope.Types.map((type) => [type, Schema.decodeUnknownResult(Envelope.Payloads[type], { onExcessProperty: "error" })])
) as Record<Envelope.Type, (input: unknown) => Result.Result<unknown, Schema.SchemaError>>

const firstLine = (error: Schema.SchemaError): string => error.message.split("\n", 2).join(" ").slice(0, 200)

const rejection = (
  code: ErrorCode,
  step: number,
  reason: string,
  correlation_id: string | undefined,
  details?: Record<string, Schema.Json>
) =>
  new EnvelopeRejected({
    code,
    step,
    reason,
    ...(correlation_id === undefined ? {} : { correlation_id }),
    ...(details === undefined ? {} : { details })
  })

/** Steps 1 to 6 on one frame: the candidate envelope, or the rejection of the first failed step. */
export const read = (frame: string | Uint8Array, context: AcceptContext): Result.Result<Candidate, EnvelopeRejected> => {
  // The frame's `id` for a rejection's `correlation_id`, read only when a step refuses it (once parsed).
  let parsedObject: { readonly [key: string]: IJson.Json } | undefined
  const reject = (code: ErrorCode, step: number, reason: string) =>
    Result.fail(rejection(code, step, reason, parsedObject !== undefined && Envelope.isUuid(parsedObject.id) ? parsedObject.id : undefined))

  // 1. size
  const size = typeof frame === "string" ? frame.length : frame.byteLength
  if (typeof frame === "string" ? !Utf8.fitsUtf8Bytes(frame, context.maxFrameBytes) : size > context.maxFrameBytes) {
    return reject("MESSAGE_TOO_LARGE", 1, `the frame is over ${context.maxFrameBytes} bytes`)
  }
  // 2. a text frame holding an I-JSON object
  let text: string
  if (typeof frame === "string") {
    text = frame
  } else if (context.binaryFrames === "utf8") {
    try {
      text = utf8Decoder.decode(frame)
    } catch {
      return reject("MALFORMED_MESSAGE", 2, "the frame is not UTF-8")
    }
  } else {
    return reject("MALFORMED_MESSAGE", 2, "binary frames are not accepted; send envelopes as text")
  }
  const parsed = IJson.parse(text)
  if (Result.isFailure(parsed)) return reject("MALFORMED_MESSAGE", 2, parsed.failure.reason)
  const value = parsed.success
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return reject("MALFORMED_MESSAGE", 2, "the frame is not a JSON object")
  }
  const object = value as { readonly [key: string]: IJson.Json }
  parsedObject = object
  // 3. version
  if (Object.hasOwn(object, "version") && object.version !== "1.0") {
    return reject("UNSUPPORTED_VERSION", 3, "this receiver speaks version \"1.0\"")
  }
  // 4. envelope members present and well-formed (written-out checks first; the Schema words a failure)
  let header: Envelope.Header
  if (Envelope.isHeader(object)) {
    header = object
  } else {
    const decoded = decodeHeader(object)
    if (Result.isFailure(decoded)) return reject("MALFORMED_MESSAGE", 4, firstLine(decoded.failure))
    header = decoded.success
  }
  if (header.to === undefined) {
    if (!Envelope.typesWithoutTo.has(header.type as Envelope.Type)) {
      return reject("MALFORMED_MESSAGE", 4, `a ${header.type.slice(0, 64)} envelope needs "to"`)
    }
  } else if (header.to === header.from) {
    return reject("MALFORMED_MESSAGE", 4, "\"to\" equals \"from\"")
  }
  // 5. type known and accepted here
  const refusal = Envelope.isType(header.type) ? context.refuseType(header.type) : context.refuseType(header.type) ?? "UNSUPPORTED_TYPE"
  if (refusal !== undefined) {
    return reject(refusal, 5, `type ${JSON.stringify(header.type.slice(0, 64))} is not accepted here`)
  }
  // 6. from
  if (
    (context.expectedFrom !== undefined && header.from !== context.expectedFrom) ||
    (context.checkFrom !== undefined && !context.checkFrom(header))
  ) {
    return reject("UNAUTHORIZED", 6, "\"from\" is not who may send this here")
  }
  return Result.succeed({ header, type: header.type as Envelope.Type, text })
}

/** Step 7's rejection: `to` is not served here. */
export const unknownRecipient = (candidate: Candidate): EnvelopeRejected =>
  rejection("UNKNOWN_AGENT", 7, "\"to\" is not a recipient this receiver serves", candidate.header.id)

/** Steps 8 and 9 at time `now` for an envelope sent at `sentAt`: the rejection, or `undefined` when both pass. */
const checkFresh = (candidate: Candidate, context: AcceptContext, now: number, sentAt: number): EnvelopeRejected | undefined => {
  const { header } = candidate
  // 8. timestamp within the skew
  const skew = context.skewMs ?? DEFAULT_SKEW_MS
  if (Math.abs(now - sentAt) > skew) {
    return rejection("REPLAYED", 8, `the timestamp is more than ${skew} ms from the receiver's clock`, candidate.header.id, {
      server_time: Envelope.formatTimestamp(now)
    })
  }
  // 9. not accepted before
  const status = context.replay.check(header.from, header.id, now)
  if (status === "replayed") return rejection("REPLAYED", 9, "this (from, id) was accepted before", candidate.header.id)
  if (status === "full") {
    return rejection("RATE_LIMITED", 9, "too many envelopes from this sender in the replay window", candidate.header.id)
  }
  return undefined
}

const invalidSignature = (candidate: Candidate) =>
  rejection("INVALID_SIGNATURE", 10, "the signature does not verify with the key of \"from\"", candidate.header.id)

const mustVerify = (candidate: Candidate, context: AcceptContext): boolean =>
  context.verifySignature === undefined || context.verifySignature(candidate.header)

/** Step 11 and the record of (`from`, `id`) until its own timestamp plus the skew. */
const finish = (candidate: Candidate, context: AcceptContext, now: number, sentAt: number): Result.Result<Accepted, EnvelopeRejected> => {
  const { header, type } = candidate
  // 11. payload (a relayed type's written-out checks first, which spare a copy of the envelope; the Schema words a failure)
  const relayed = Envelope.isRelayedPayload(type, header.payload)
  const payload = relayed ? undefined : payloadDecoders[type](header.payload)
  if (payload !== undefined && Result.isFailure(payload)) {
    return Result.fail(rejection("MALFORMED_MESSAGE", 11, `payload: ${firstLine(payload.failure)}`, candidate.header.id))
  }
  const skew = context.skewMs ?? DEFAULT_SKEW_MS
  const recorded = context.replay.record(header.from, header.id, sentAt + skew, now)
  if (recorded === "replayed") return Result.fail(rejection("REPLAYED", 9, "this (from, id) was accepted before", candidate.header.id))
  if (recorded === "full") {
    return Result.fail(rejection("RATE_LIMITED", 12, "too many envelopes from this sender in the replay window", candidate.header.id))
  }
  // The header is the parsed frame (or its decoded copy), held by nothing else: with its payload valid as it is, it is the envelope.
  const envelope = payload === undefined ? header as Envelope.Envelope : { ...header, type, payload: payload.success } as Envelope.Envelope
  return Result.succeed({ envelope, text: candidate.text })
}

/**
 * Steps 8 to 11 and the record, synchronously, once step 7 passed: `now` is the receiver's
 * clock and `verifySync` a synchronous Ed25519 check (`Ed25519Shape.verifySync`).
 */
export const complete = (
  candidate: Candidate,
  context: AcceptContext,
  now: number,
  verifySync: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean
): Result.Result<Accepted, EnvelopeRejected> => {
  const sentAt = Envelope.timestampMillis(candidate.header.timestamp)
  const stale = checkFresh(candidate, context, now, sentAt)
  if (stale !== undefined) return Result.fail(stale)
  // 10. signature
  if (mustVerify(candidate, context) && !Envelope.verifyWith(candidate.header, verifySync, context.publicKeyOf?.(candidate.header.from))) {
    return Result.fail(invalidSignature(candidate))
  }
  return finish(candidate, context, now, sentAt)
}

/** What step 10 checks: the key of `from`, the signature and the signed bytes (`Envelope.signedParts`). */
export interface SignedParts {
  readonly publicKey: Uint8Array
  readonly signature: Uint8Array
  readonly bytes: Uint8Array
}

/** A candidate past steps 8 and 9 whose signature is to be checked elsewhere (another thread). */
export interface Prepared {
  readonly sentAt: number
  /** What to verify; `undefined` when the context does not verify this envelope. */
  readonly signed: SignedParts | undefined
}

/**
 * `complete` in two halves, for a receiver that verifies signatures off its thread: steps 8 and 9
 * and the parts step 10 needs now, then `completeVerified` with the result of the check.
 */
export const prepare = (candidate: Candidate, context: AcceptContext, now: number): Result.Result<Prepared, EnvelopeRejected> => {
  const sentAt = Envelope.timestampMillis(candidate.header.timestamp)
  const stale = checkFresh(candidate, context, now, sentAt)
  if (stale !== undefined) return Result.fail(stale)
  if (!mustVerify(candidate, context)) return Result.succeed({ sentAt, signed: undefined })
  const signed = Envelope.signedParts(candidate.header, context.publicKeyOf?.(candidate.header.from))
  return signed === undefined ? Result.fail(invalidSignature(candidate)) : Result.succeed({ sentAt, signed })
}

/** The second half of `complete`: step 10's result (`valid`), step 11 and the record, at the `now` given to `prepare`. */
export const completeVerified = (
  candidate: Candidate,
  context: AcceptContext,
  now: number,
  prepared: Prepared,
  valid: boolean
): Result.Result<Accepted, EnvelopeRejected> =>
  valid ? finish(candidate, context, now, prepared.sentAt) : Result.fail(invalidSignature(candidate))

/** Steps 7 to 11 and the record, with the context's `checkTo`, the `Clock` and the `Ed25519` service. */
export const completeEffect = Effect.fnUntraced(function*(
  candidate: Candidate,
  context: AcceptContext
): Effect.fn.Return<Accepted, EnvelopeRejected> {
  // 7. to
  if (!(yield* context.checkTo(candidate.header))) return yield* unknownRecipient(candidate)
  const now = yield* Clock.currentTimeMillis
  const sentAt = Envelope.timestampMillis(candidate.header.timestamp)
  const stale = checkFresh(candidate, context, now, sentAt)
  if (stale !== undefined) return yield* stale
  // 10. signature
  if (mustVerify(candidate, context) && !(yield* Envelope.verify(candidate.header, context.publicKeyOf?.(candidate.header.from)))) {
    return yield* invalidSignature(candidate)
  }
  return yield* Effect.fromResult(finish(candidate, context, now, sentAt))
})

/**
 * Runs the acceptance checks on one frame. Fails with `EnvelopeRejected` carrying the code of
 * the first failed step; on success the envelope's (`from`, `id`) is recorded.
 */
export const accept = (frame: string | Uint8Array, context: AcceptContext): Effect.Effect<Accepted, EnvelopeRejected> => {
  const candidate = read(frame, context)
  return Result.isFailure(candidate) ? Effect.fail(candidate.failure) : completeEffect(candidate.success, context)
}
