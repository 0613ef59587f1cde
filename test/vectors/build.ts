/**
 * Builds the IoAP v1 conformance vectors (test/vectors/envelopes.json and negative.json).
 *
 * Everything is fixed (seeds, ids, timestamps) and Ed25519 signing is deterministic, so the
 * vectors are reproducible: `npm run vectors` rewrites them and a test checks they still match.
 */
import { hex } from "@scure/base"
import { Effect } from "effect"
import * as Envelope from "../../src/protocol/Envelope.ts"
import { identities, samples, seeds } from "../fixtures/samples.ts"

/** What a receiver is configured with when it checks a vector. */
export interface VectorContext {
  /** The receiver's clock. */
  readonly now: string
  readonly max_frame_bytes: number
  readonly skew_ms: number
  /** The receiver's DID: a `to` other than this is UNKNOWN_AGENT. */
  readonly receiver: string
  /** Who `from` must be, when the receiver knows it. */
  readonly expected_from?: string
  /** Types accepted here; others are UNSUPPORTED_TYPE. */
  readonly accepted_types: ReadonlyArray<string>
  /** Frames accepted, in order, before this one (for replay cases). */
  readonly previously_accepted?: ReadonlyArray<string>
}

export interface EnvelopeVector {
  readonly name: string
  readonly sender_seed_hex: string
  readonly signing_input_hex: string
  readonly frame: string
  readonly context: VectorContext
}

export interface NegativeVector {
  readonly name: string
  readonly frame: string
  readonly context: VectorContext
  readonly expected: { readonly code: string; readonly step: number }
}

// The DID of the neutral point (0x01 followed by zeros), an Ed25519 key of order 1.
const SMALL_ORDER_DID = "did:key:z6MkeXATEjyXENzBXBxgC5EHk2JE5aqd7qMGGtDpLUH1e2Sj"

const T0 = Date.parse("2026-01-01T00:00:00.000Z")
const stamp = (offsetMs: number) => Envelope.formatTimestamp(T0 + offsetMs)
const uuid = (n: number) => `00000000-0000-4000-8000-${n.toString(16).padStart(12, "0")}`

export const build = Effect.gen(function*() {
  const ids = yield* identities
  const seedOf = new Map([[ids.alice.did, seeds.alice], [ids.bob.did, seeds.bob], [ids.gateway.did, seeds.gateway]])
  const identityOf = new Map([[ids.alice.did, ids.alice], [ids.bob.did, ids.bob], [ids.gateway.did, ids.gateway]])

  const envelopes: Array<EnvelopeVector> = []
  let n = 0
  for (const [type, sample] of Object.entries(samples) as Array<[Envelope.Type, (typeof samples)[Envelope.Type]]>) {
    n++
    const [from, to] = sample.route === "agent>gateway"
      ? [ids.alice, ids.gateway]
      : sample.route === "agent>agent"
      ? [ids.alice, ids.bob]
      : [ids.gateway, ids.alice]
    const unsigned: Record<string, unknown> = {
      version: "1.0",
      id: uuid(n),
      timestamp: stamp(n),
      from: from.did,
      type,
      payload: sample.payload
    }
    if (sample.route !== "challenge") unsigned.to = to.did
    if (type === "PONG" || type === "REGISTERED" || type === "PEERS" || type === "EXEC_RESPONSE" || type === "ANSWER") {
      unsigned.correlation_id = uuid(100 + n)
    }
    const signed = yield* Envelope.sign(from, unsigned as unknown as Envelope.Unsigned)
    envelopes.push({
      name: type,
      sender_seed_hex: hex.encode(seedOf.get(from.did)!),
      signing_input_hex: hex.encode(Envelope.signingBytes(unsigned)),
      frame: Envelope.encode(signed),
      context: {
        now: stamp(n),
        max_frame_bytes: 65536,
        skew_ms: 60_000,
        receiver: sample.route === "challenge" ? ids.alice.did : to.did,
        expected_from: from.did,
        accepted_types: [type]
      }
    })
  }

  // Negative cases start from one valid OFFER from alice to bob.
  const base = {
    version: "1.0",
    id: uuid(1000),
    timestamp: stamp(0),
    from: ids.alice.did,
    to: ids.bob.did,
    type: "OFFER",
    payload: samples.OFFER.payload
  }
  const context: VectorContext = {
    now: stamp(0),
    max_frame_bytes: 65536,
    skew_ms: 60_000,
    receiver: ids.bob.did,
    accepted_types: ["OFFER", "ANSWER", "ICE_CANDIDATE", "BYE"]
  }
  /** The frame of `fields` signed by the identity of its `from` (alice when that is not ours). */
  const signed = (fields: Record<string, unknown>) =>
    Effect.map(
      Envelope.sign(identityOf.get(fields.from as never) ?? ids.alice, fields as unknown as Envelope.Unsigned),
      Envelope.encode
    )
  const valid = yield* signed(base)
  const negative: Array<NegativeVector> = []
  const add = (name: string, frame: string, code: string, step: number, overrides: Partial<VectorContext> = {}) =>
    negative.push({ name, frame, context: { ...context, ...overrides }, expected: { code, step } })
  const replace = (from: string, to: string) => {
    if (!valid.includes(from)) throw new Error(`${from} is not in the frame`)
    return valid.replace(from, to)
  }
  const signature = JSON.parse(valid).signature as string

  add("1: frame over the receiver's limit", valid, "MESSAGE_TOO_LARGE", 1, { max_frame_bytes: 512 })
  add("2: not JSON", valid.slice(0, -1), "MALFORMED_MESSAGE", 2)
  add("2: a JSON array, not an object", `[${valid}]`, "MALFORMED_MESSAGE", 2)
  add("2: duplicate member name", replace(`{"version":"1.0",`, `{"version":"1.0","version":"1.0",`), "MALFORMED_MESSAGE", 2)
  add("2: duplicate member name in the payload", replace(`"payload":{`, `"payload":{"sdp":"x",`), "MALFORMED_MESSAGE", 2)
  add("2: lone surrogate", replace(`"payload":{`, `"payload":{"x":"\\ud800",`), "MALFORMED_MESSAGE", 2)
  add("2: integer 2^53+1", replace(`"payload":{`, `"payload":{"x":9007199254740993,`), "MALFORMED_MESSAGE", 2)
  add("3: version 2.0", replace(`"version":"1.0"`, `"version":"2.0"`), "UNSUPPORTED_VERSION", 3)
  add("4: signature missing", replace(`,"signature":"${signature}"`, ""), "MALFORMED_MESSAGE", 4)
  add("4: upper-case UUID", replace(base.id, base.id.toUpperCase()), "MALFORMED_MESSAGE", 4)
  add("4: nil UUID", replace(base.id, "00000000-0000-0000-0000-000000000000"), "MALFORMED_MESSAGE", 4)
  add("4: UUID v1", replace(base.id, "00000000-0000-1000-8000-000000000001"), "MALFORMED_MESSAGE", 4)
  add("4: timestamp without milliseconds", replace(base.timestamp, "2026-01-01T00:00:00Z"), "MALFORMED_MESSAGE", 4)
  add("4: timestamp with an offset", replace(base.timestamp, "2026-01-01T00:00:00.000+00:00"), "MALFORMED_MESSAGE", 4)
  add("4: timestamp with microseconds", replace(base.timestamp, "2026-01-01T00:00:00.000000Z"), "MALFORMED_MESSAGE", 4)
  add("4: timestamp of February 30", replace(base.timestamp, "2026-02-30T00:00:00.000Z"), "MALFORMED_MESSAGE", 4)
  add("4: non-canonical base64url signature (unused bits set)", replace(signature, signature.slice(0, 85) + "B"), "MALFORMED_MESSAGE", 4)
  add("4: padded signature", replace(signature, signature + "=="), "MALFORMED_MESSAGE", 4)
  add("4: standard base64 alphabet in the signature", replace(signature, "+" + signature.slice(1)), "MALFORMED_MESSAGE", 4)
  add("4: DID with a fragment", replace(`"from":"${ids.alice.did}"`, `"from":"${ids.alice.did}#key-1"`), "MALFORMED_MESSAGE", 4)
  add("4: to equals from", replace(`"to":"${ids.bob.did}"`, `"to":"${ids.alice.did}"`), "MALFORMED_MESSAGE", 4)
  add("4: to missing on a relayed type", replace(`,"to":"${ids.bob.did}"`, ""), "MALFORMED_MESSAGE", 4)
  add("4: unknown envelope member", replace(`{"version":"1.0",`, `{"version":"1.0","extra":1,`), "MALFORMED_MESSAGE", 4)
  add("4: optional member sent as null", replace(`{"version":"1.0",`, `{"version":"1.0","correlation_id":null,`), "MALFORMED_MESSAGE", 4)
  add("5: unknown type", yield* signed({ ...base, type: "TELEPORT" }), "UNSUPPORTED_TYPE", 5)
  add("5: known type not accepted here", yield* signed({ ...base, type: "INTENT", payload: {} }), "UNSUPPORTED_TYPE", 5)
  add("6: from is not the expected sender", valid, "UNAUTHORIZED", 6, { expected_from: ids.gateway.did })
  add("7: to is not this receiver", valid, "UNKNOWN_AGENT", 7, { receiver: ids.gateway.did })
  add("8: timestamp 61 s behind the receiver", valid, "REPLAYED", 8, { now: stamp(61_000) })
  add("8: timestamp 61 s ahead of the receiver", valid, "REPLAYED", 8, { now: stamp(-61_000) })
  add("9: (from, id) accepted before", valid, "REPLAYED", 9, { previously_accepted: [valid] })
  add("10: payload altered after signing", replace(`"sdp":"v=0`, `"sdp":"v=1`), "INVALID_SIGNATURE", 10)
  add("10: signed by another key", valid.replace(signature, JSON.parse(yield* Effect.map(Envelope.sign(ids.bob, base as never), Envelope.encode)).signature), "INVALID_SIGNATURE", 10)
  add(
    "10: from is a small-order key",
    replace(ids.alice.did, SMALL_ORDER_DID),
    "INVALID_SIGNATURE",
    10
  )
  add("11: unknown payload member (signed)", yield* signed({ ...base, payload: { ...base.payload, extra: true } }), "MALFORMED_MESSAGE", 11)
  add("11: payload member of the wrong type (signed)", yield* signed({ ...base, payload: { ...base.payload, sdp: 42 } }), "MALFORMED_MESSAGE", 11)
  add("11: connection_id not a UUID (signed)", yield* signed({ ...base, payload: { ...base.payload, connection_id: "abc" } }), "MALFORMED_MESSAGE", 11)
  add(
    "11: optional payload member sent as null (signed)",
    yield* signed({ ...base, type: "BYE", payload: { connection_id: base.payload.connection_id, reason: null } }),
    "MALFORMED_MESSAGE",
    11
  )
  return { envelopes, negative }
})
