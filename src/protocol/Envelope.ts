/**
 * IoAP v1 envelopes (PROTOCOL.md section 2): their Schemas, signing and encoding.
 *
 * Receiving an envelope is `Accept.accept`, which runs the section 2 checks in their order;
 * this module holds the formats and the signature rule it relies on.
 *
 * @since 0.1.0
 */
import { base64urlnopad } from "@scure/base"
import canonicalize from "canonicalize"
import { Clock, Effect, Result, Schema } from "effect"
import * as Did from "./Did.ts"
import { type CryptoError, Ed25519 } from "./Ed25519.ts"
import { ErrorCode } from "./ErrorCode.ts"
import * as Identity from "./Identity.ts"
import * as IJson from "./IJson.ts"
import * as WebRtc from "./Sdp.ts"
import { fitsUtf8Bytes } from "./Utf8.ts"

// ---------------------------------------------------------------------------
// Formats
// ---------------------------------------------------------------------------

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/

/** A lower-case UUID v4 or v7 (the nil UUID is neither). */
export const Uuid = Schema.String.check(Schema.isPattern(UUID, { description: "a lower-case UUID v4 or v7" }))

/** Whether a value is a `Uuid` (the same check, without the Schema). */
export const isUuid = (value: unknown): value is string => typeof value === "string" && UUID.test(value)

const TIMESTAMP = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{3}Z$/

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const

/** Whether a year/month/day/hour/minute/second names a real UTC calendar time (no leap seconds). */
const isCalendarTime = (match: RegExpExecArray): boolean => {
  const year = Number(match[1])
  const month = Number(match[2])
  const day = Number(match[3])
  if (month < 1 || month > 12 || day < 1 || Number(match[4]) > 23 || Number(match[5]) > 59 || Number(match[6]) > 59) return false
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]!)
}

/** A UTC timestamp with milliseconds (`2026-01-02T03:04:05.678Z`) naming a real calendar time. */
export const Timestamp = Schema.String.check(
  Schema.makeFilter((s: string) => {
    const match = TIMESTAMP.exec(s)
    if (match === null) return "expected YYYY-MM-DDTHH:MM:SS.sssZ"
    return isCalendarTime(match) || "not a real calendar time"
  }, { description: "a UTC timestamp with milliseconds" })
)

/** Whether a string is a `Timestamp` (the same check, without the Schema). */
const isTimestamp = (s: string): boolean => {
  const match = TIMESTAMP.exec(s)
  return match !== null && isCalendarTime(match)
}

/** The milliseconds since the epoch of a `Timestamp`. */
export const timestampMillis = (timestamp: string): number => Date.parse(timestamp)

/** The `Timestamp` of a time in milliseconds since the epoch. */
export const formatTimestamp = (millis: number): string => new Date(millis).toISOString()

const SIGNATURE = /^[A-Za-z0-9_-]{85}[AQgw]$/

/** 64 signature bytes as exactly 86 base64url characters, canonical (the 4 unused bits are zero). */
export const Signature = Schema.String.check(Schema.isPattern(SIGNATURE, { description: "86 canonical base64url characters" }))

/** Whether a value is a `Signature` (the same check, without the Schema). */
const isSignature = (value: unknown): value is string => typeof value === "string" && SIGNATURE.test(value)

/** 32 random bytes as 43 canonical base64url characters. */
export const Nonce = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/, { description: "32 bytes in base64url" })
)

const utf8 = new TextEncoder()

/** A string of at most `max` UTF-16 code units. */
const Text = (max: number) => Schema.String.check(Schema.isMaxLength(max))

/** A non-negative safe integer. */
export const Count = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0), Schema.isLessThanOrEqualTo(Number.MAX_SAFE_INTEGER))

const IntBetween = (minimum: number, maximum: number) => Schema.Int.check(Schema.isBetween({ minimum, maximum }))

/** A JSON object with any members. */
export const JsonObject = Schema.Record(Schema.String, Schema.Json)

// ---------------------------------------------------------------------------
// Payloads
// ---------------------------------------------------------------------------

/** A capability an agent serves (PROTOCOL.md 4.2). */
export const Capability = Schema.Struct({
  id: Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(128)),
  name: Schema.optionalKey(Text(128)),
  description: Schema.optionalKey(Text(1024)),
  version: Schema.optionalKey(Text(32)),
  tags: Schema.optionalKey(Schema.Array(Text(64)).check(Schema.isMaxLength(16)))
})
/** A capability an agent serves. */
export type Capability = typeof Capability.Type

/** A STUN or TURN server handed to agents. */
export const IceServer = Schema.Struct({
  urls: Schema.Array(Text(2048)).check(Schema.isMinLength(1), Schema.isMaxLength(16)),
  username: Schema.optionalKey(Text(512)),
  credential: Schema.optionalKey(Text(512))
})
/** A STUN or TURN server handed to agents. */
export type IceServer = typeof IceServer.Type

/** A directory entry in PEERS and `/agents`. */
export const PeerEntry = Schema.Struct({
  did: Did.Did,
  capabilities: Schema.Array(Capability).check(Schema.isMaxLength(32)),
  name: Schema.optionalKey(Text(64)),
  connected_at: Timestamp
})
/** A directory entry in PEERS and `/agents`. */
export type PeerEntry = typeof PeerEntry.Type

const ConnectionId = { connection_id: Uuid }

/** The payload Schema of every envelope type. */
export const Payloads = {
  CHALLENGE: Schema.Struct({ nonce: Nonce }),
  REGISTER: Schema.Struct({
    nonce: Nonce,
    endpoint: Text(2048).check(Schema.isPattern(/^wss?:\/\//, { description: "a ws:// or wss:// URL" })),
    capabilities: Schema.Array(Capability).check(Schema.isMaxLength(32)),
    name: Schema.optionalKey(Text(64)),
    unlisted: Schema.optionalKey(Schema.Boolean)
  }),
  REGISTERED: Schema.Struct({
    session_id: Text(128),
    heartbeat_interval_ms: Count,
    session_timeout_ms: Count,
    max_message_bytes: Count,
    ice_servers: Schema.Array(IceServer).check(Schema.isMaxLength(16))
  }).check(
    Schema.makeFilter((p) =>
      p.session_timeout_ms > 2 * p.heartbeat_interval_ms || "session_timeout_ms must exceed 2 × heartbeat_interval_ms"
    )
  ),
  PING: Schema.Struct({ sequence: Schema.optionalKey(Count) }),
  PONG: Schema.Struct({ sequence: Schema.optionalKey(Count) }),
  DISCOVER: Schema.Struct({
    capability: Schema.optionalKey(Text(128)),
    tag: Schema.optionalKey(Text(64)),
    limit: Schema.optionalKey(IntBetween(1, 100)),
    cursor: Schema.optionalKey(Text(512))
  }),
  PEERS: Schema.Struct({
    agents: Schema.Array(PeerEntry),
    next_cursor: Schema.optionalKey(Text(512))
  }),
  UNREGISTER: Schema.Struct({ reason: Schema.optionalKey(Text(256)) }),
  OFFER: Schema.Struct({ ...ConnectionId, sdp: WebRtc.Sdp }),
  ANSWER: Schema.Struct({ ...ConnectionId, sdp: WebRtc.Sdp }),
  ICE_CANDIDATE: Schema.Struct({
    ...ConnectionId,
    candidate: Text(1024).check(
      Schema.makeFilter((s: string) => s === "" || s.startsWith("candidate:") || "expected \"candidate:…\" or \"\"")
    ),
    sdp_mid: Schema.optionalKey(Text(256)),
    sdp_mline_index: Schema.optionalKey(IntBetween(0, 65535)),
    username_fragment: Schema.optionalKey(Text(256))
  }).check(
    Schema.makeFilter((p) =>
      p.sdp_mid !== undefined || p.sdp_mline_index !== undefined || "sdp_mid or sdp_mline_index is required"
    )
  ),
  BYE: Schema.Struct({ ...ConnectionId, reason: Schema.optionalKey(Text(256)), code: Schema.optionalKey(ErrorCode) }),
  INTENT: Schema.Struct({
    query: Schema.optionalKey(Schema.String),
    context: Schema.optionalKey(Schema.String),
    task: Schema.optionalKey(Schema.String),
    params: Schema.optionalKey(JsonObject),
    status: Schema.optionalKey(Schema.String),
    required_input: Schema.optionalKey(Schema.Array(Schema.String)),
    cost: Schema.optionalKey(Schema.String)
  }),
  EXEC_REQUEST: Schema.Struct({
    capability: Text(128),
    args: JsonObject,
    timeout_ms: Schema.optionalKey(IntBetween(1, 3_600_000)),
    stream: Schema.optionalKey(Schema.Boolean)
  }),
  EXEC_RESPONSE: Schema.Struct({
    status: Schema.Literals(["success", "error", "partial"]),
    result: Schema.optionalKey(Schema.Json),
    error: Schema.optionalKey(Schema.Struct({ code: Text(64), message: Text(1024) })),
    execution_time_ms: Schema.optionalKey(Count)
  }),
  EXEC_CANCEL: Schema.Struct({}),
  ERROR: Schema.Struct({
    code: ErrorCode,
    message: Text(256),
    details: Schema.optionalKey(JsonObject)
  })
} as const

/** The envelope types of IoAP v1. */
export type Type = keyof typeof Payloads

/** Every envelope type. */
export const Types: ReadonlyArray<Type> = Object.keys(Payloads) as Array<Type>

// The relayed types' payload checks, written out (`isRelayedPayload`); each mirrors its Schema above.
const isText = (value: unknown, max: number): boolean => typeof value === "string" && value.length <= max
const isOptionalText = (payload: { readonly [key: string]: unknown }, key: string, max: number): boolean =>
  !Object.hasOwn(payload, key) || isText(payload[key], max)
const hasOnly = (payload: object, members: ReadonlySet<string>): boolean => {
  for (const key in payload) if (!members.has(key)) return false
  return true
}
const SESSION_DESCRIPTION_MEMBERS: ReadonlySet<string> = new Set(["connection_id", "sdp"])
const ICE_CANDIDATE_MEMBERS: ReadonlySet<string> = new Set(["connection_id", "candidate", "sdp_mid", "sdp_mline_index", "username_fragment"])
const BYE_MEMBERS: ReadonlySet<string> = new Set(["connection_id", "reason", "code"])
const ERROR_CODES: ReadonlySet<unknown> = new Set(ErrorCode.literals)
const isSessionDescription = (payload: { readonly [key: string]: unknown }): boolean =>
  hasOnly(payload, SESSION_DESCRIPTION_MEMBERS) && isUuid(payload.connection_id) &&
  typeof payload.sdp === "string" && fitsUtf8Bytes(payload.sdp, WebRtc.MAX_SDP_BYTES)
const isIceCandidatePayload = (payload: { readonly [key: string]: unknown }): boolean => {
  if (!hasOnly(payload, ICE_CANDIDATE_MEMBERS) || !isUuid(payload.connection_id)) return false
  const { candidate } = payload
  if (!isText(candidate, 1024) || (candidate !== "" && !(candidate as string).startsWith("candidate:"))) return false
  if (!isOptionalText(payload, "sdp_mid", 256) || !isOptionalText(payload, "username_fragment", 256)) return false
  const hasIndex = Object.hasOwn(payload, "sdp_mline_index")
  const index = payload.sdp_mline_index
  if (hasIndex && !(Number.isSafeInteger(index) && (index as number) >= 0 && (index as number) <= 65535)) return false
  return Object.hasOwn(payload, "sdp_mid") || hasIndex
}
const isByePayload = (payload: { readonly [key: string]: unknown }): boolean =>
  hasOnly(payload, BYE_MEMBERS) && isUuid(payload.connection_id) && isOptionalText(payload, "reason", 256) &&
  (!Object.hasOwn(payload, "code") || ERROR_CODES.has(payload.code))

/**
 * Whether `payload` (a plain object, as `isHeader` admits) is a valid payload of the relayed type
 * `type` decoded with unknown members refused: `Payloads[type]`'s checks written out, for the
 * frames a gateway relays most. `false` for every other type, and says nothing more: decode with
 * the Schema to learn which check failed. The decoded value equals `payload`.
 */
export const isRelayedPayload = (type: Type, payload: { readonly [key: string]: unknown }): boolean => {
  switch (type) {
    case "OFFER":
    case "ANSWER":
      return isSessionDescription(payload)
    case "ICE_CANDIDATE":
      return isIceCandidatePayload(payload)
    case "BYE":
      return isByePayload(payload)
    default:
      return false
  }
}

/** Whether a string names an envelope type of IoAP v1. */
export const isType = (type: string): type is Type => Object.hasOwn(Payloads, type)

/** The payload of an envelope type. */
export type Payload<T extends Type> = (typeof Payloads)[T]["Type"]

/** Types sent without `to`: CHALLENGE always, ERROR when the offender's DID is unknown. */
export const typesWithoutTo: ReadonlySet<Type> = new Set<Type>(["CHALLENGE", "ERROR"])

/** The types a gateway relays between agents (signaling). */
export type RelayedType = "OFFER" | "ANSWER" | "ICE_CANDIDATE" | "BYE"

/** Types a gateway relays between agents. */
export const relayedTypes: ReadonlySet<Type> = new Set<RelayedType>(["OFFER", "ANSWER", "ICE_CANDIDATE", "BYE"])

// ---------------------------------------------------------------------------
// Envelopes
// ---------------------------------------------------------------------------

/** The members of every envelope, with the payload left open (the checks of steps 3 and 4). */
export const Header = Schema.Struct({
  version: Schema.Literal("1.0"),
  id: Uuid,
  correlation_id: Schema.optionalKey(Uuid),
  timestamp: Timestamp,
  from: Did.Did,
  to: Schema.optionalKey(Did.Did),
  type: Text(64),
  payload: Schema.Record(Schema.String, Schema.Unknown),
  signature: Signature
})
/** The members of every envelope, with the payload left open. */
export type Header = typeof Header.Type

const HEADER_MEMBERS: ReadonlySet<string> = new Set(Object.keys(Header.fields))

const isDid = (value: unknown): boolean => typeof value === "string" && Result.isSuccess(Did.decodeSyntax(value))

/**
 * Whether a parsed object is a `Header` decoded with unknown members refused: the Schema's
 * checks, written out, for the common case where they all pass. A `false` says nothing more:
 * decode with the Schema to learn which check failed.
 */
export const isHeader = (object: { readonly [key: string]: unknown }): object is Header => {
  if (Object.getPrototypeOf(object) !== Object.prototype) return false
  for (const key in object) if (!HEADER_MEMBERS.has(key)) return false
  const { payload } = object
  return object.version === "1.0" &&
    isUuid(object.id) &&
    (!Object.hasOwn(object, "correlation_id") || isUuid(object.correlation_id)) &&
    typeof object.timestamp === "string" && isTimestamp(object.timestamp) &&
    isDid(object.from) &&
    (!Object.hasOwn(object, "to") || isDid(object.to)) &&
    typeof object.type === "string" && object.type.length <= 64 &&
    typeof payload === "object" && payload !== null && !Array.isArray(payload) &&
    Object.getPrototypeOf(payload) === Object.prototype &&
    isSignature(object.signature)
}

/** A signed envelope whose `type` is `T` (one type). */
interface EnvelopeOf<T extends Type> {
  readonly version: "1.0"
  readonly id: string
  readonly correlation_id?: string
  readonly timestamp: string
  readonly from: Did.Did
  readonly to?: Did.Did
  readonly type: T
  readonly payload: Payload<T>
  readonly signature: string
}

/**
 * A signed envelope of one of the types `T` (any type by default): a union discriminated by
 * `type`, so checking `envelope.type` narrows `envelope.payload`.
 */
export type Envelope<T extends Type = Type> = { readonly [K in T]: EnvelopeOf<K> }[T]

/** An envelope before it is signed. */
export type Unsigned<T extends Type = Type> = { readonly [K in T]: Omit<EnvelopeOf<K>, "signature"> }[T]

/** Whether an envelope is of a type the gateway relays between agents (narrows it to those). */
export const isRelayed = (envelope: Envelope): envelope is Envelope<RelayedType> => relayedTypes.has(envelope.type)

/** The Schema of a whole envelope of one type, unknown members rejected when decoded strictly. */
export const schemaFor = <T extends Type>(type: T) =>
  Schema.Struct({
    ...Header.fields,
    type: Schema.Literal(type),
    payload: Payloads[type] as (typeof Payloads)[T]
  })

/** Any envelope of IoAP v1, discriminated by `type`. */
export const Envelope = Schema.Union(Types.map(schemaFor))

const SIGNING_PREFIX = "IoAP-v1\n"

/** An envelope could not be signed: its content is not I-JSON (a lone surrogate, an unsafe integer…). */
export class UnsignableEnvelope extends Schema.TaggedError<UnsignableEnvelope>()("UnsignableEnvelope", {
  reason: Schema.String
}) {}

/**
 * The bytes an envelope's signature covers: `IoAP-v1\n` and the RFC 8785 form without `signature`.
 * Throws for content that has no canonical form (lone surrogates, non-finite numbers), which
 * `accept` has already refused on the receiving side; `sign` turns it into `UnsignableEnvelope`.
 */
export const signingBytes = (unsigned: object): Uint8Array => {
  const { signature: _, ...rest } = unsigned as Record<string, unknown>
  return utf8.encode(SIGNING_PREFIX + canonicalize(rest))
}

/** Signs an envelope with the identity named in its `from`. */
export const sign = <T extends Type>(
  identity: Identity.Identity,
  unsigned: Unsigned<T>
): Effect.Effect<Envelope<T>, CryptoError | UnsignableEnvelope> =>
  Effect.suspend((): Effect.Effect<Uint8Array, CryptoError | UnsignableEnvelope> => {
    const valid = IJson.check(unsigned)
    return Result.isFailure(valid)
      ? Effect.fail(new UnsignableEnvelope({ reason: valid.failure.reason }))
      : Identity.sign(identity, signingBytes(unsigned))
  }).pipe(
    Effect.map((signature) => ({ ...unsigned, signature: base64urlnopad.encode(signature) }) as Envelope<T>)
  )

/**
 * What a signature check needs: the key of `from`, the signature and the signed bytes; `undefined`
 * when one cannot be read. `publicKey` is the key of `from` when the caller holds it already
 * validated (decoding the DID checks its curve point, which costs more than the verification).
 */
export const signedParts = (envelope: { readonly from: string; readonly signature: string }, publicKey?: Uint8Array) => {
  let key = publicKey
  if (key === undefined) {
    const decoded = Did.decode(envelope.from)
    if (decoded._tag === "Failure") return undefined
    key = decoded.success
  }
  try {
    return { publicKey: key, signature: base64urlnopad.decode(envelope.signature), bytes: signingBytes(envelope) }
  } catch {
    return undefined
  }
}

/**
 * Whether an envelope's signature verifies with the key of its `from` DID (`publicKey`: that key,
 * when the caller validated the DID before).
 */
export const verify = (envelope: { readonly from: string; readonly signature: string }, publicKey?: Uint8Array): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const parts = signedParts(envelope, publicKey)
    if (parts === undefined) return Effect.succeed(false)
    return Effect.flatMap(Ed25519, (ed25519) => ed25519.verify(parts.publicKey, parts.signature, parts.bytes))
  })

/** `verify` with a synchronous Ed25519 check (`Ed25519Shape.verifySync`). */
export const verifyWith = (
  envelope: { readonly from: string; readonly signature: string },
  verifySync: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean,
  publicKey?: Uint8Array
): boolean => {
  const parts = signedParts(envelope, publicKey)
  return parts !== undefined && verifySync(parts.publicKey, parts.signature, parts.bytes)
}

/** What a sender chooses for a new envelope; the rest is filled in by `make`. */
export interface Draft<T extends Type> {
  readonly type: T
  readonly payload: Payload<T>
  readonly to?: Did.Did | undefined
  readonly correlation_id?: string | undefined
}

/** A new signed envelope from `identity`: a fresh UUID, the current time, `version` 1.0. */
export const make = <T extends Type>(
  identity: Identity.Identity,
  draft: Draft<T>
): Effect.Effect<Envelope<T>, CryptoError | UnsignableEnvelope> =>
  Effect.flatMap(Clock.currentTimeMillis, (now) => {
    const unsigned: Record<string, unknown> = {
      version: "1.0",
      id: globalThis.crypto.randomUUID(),
      timestamp: formatTimestamp(now),
      from: identity.did,
      type: draft.type,
      payload: draft.payload
    }
    if (draft.correlation_id !== undefined) unsigned.correlation_id = draft.correlation_id
    if (draft.to !== undefined) unsigned.to = draft.to
    return sign(identity, unsigned as unknown as Unsigned<T>)
  })

/** The wire text of an envelope (one UTF-8 text frame). */
export const encode = <T extends Type>(envelope: Envelope<T>): string => JSON.stringify(envelope)
