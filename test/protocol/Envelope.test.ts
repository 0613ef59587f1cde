import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import { TestClock } from "effect/testing"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as IJson from "../../src/protocol/IJson.ts"
import { identities, samples } from "../fixtures/samples.ts"

const decodeEnvelope = Schema.decodeUnknownResult(Envelope.Envelope, { onExcessProperty: "error" })

describe("Envelope", () => {
  it.effect.each(Envelope.Types)("makes, encodes and verifies a %s envelope", (type) =>
    Effect.gen(function*() {
      yield* TestClock.setTime(Date.parse("2026-03-04T05:06:07.089Z"))
      const { alice, bob } = yield* identities
      const envelope = yield* Envelope.make(alice, { type, to: type === "CHALLENGE" ? undefined : bob.did, payload: samples[type].payload as never })
      assert.strictEqual(envelope.version, "1.0")
      assert.strictEqual(envelope.timestamp, "2026-03-04T05:06:07.089Z")
      assert.match(envelope.id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
      assert.isTrue(yield* Envelope.verify(envelope))
      const decoded = decodeEnvelope(JSON.parse(Envelope.encode(envelope)))
      assert.strictEqual(decoded._tag, "Success")
      assert.isFalse(Object.values(envelope).includes(null))
      assert.isTrue(yield* Envelope.verify({ ...envelope, signature: envelope.signature }))
      assert.isFalse(yield* Envelope.verify({ ...envelope, from: bob.did }))
    }))

  it.effect("omits optional members instead of sending null or undefined", () =>
    Effect.gen(function*() {
      const { alice, bob } = yield* identities
      const envelope = yield* Envelope.make(alice, { type: "PING", to: bob.did, payload: {} })
      const wire = JSON.parse(Envelope.encode(envelope))
      assert.isFalse("correlation_id" in wire)
      assert.deepStrictEqual(wire.payload, {})
    }))

  it.effect("signature covers every member: changing any of them breaks it", () =>
    Effect.gen(function*() {
      const { alice, bob, gateway } = yield* identities
      const envelope = yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: samples.OFFER.payload, correlation_id: "00000000-0000-4000-8000-000000000001" })
      const variants = [
        { ...envelope, id: "00000000-0000-4000-8000-000000000002" },
        { ...envelope, correlation_id: "00000000-0000-4000-8000-000000000003" },
        { ...envelope, timestamp: "2030-01-01T00:00:00.000Z" },
        { ...envelope, to: gateway.did },
        { ...envelope, type: "ANSWER" as const },
        { ...envelope, payload: { ...envelope.payload, sdp: envelope.payload.sdp + " " } }
      ]
      for (const variant of variants) assert.isFalse(yield* Envelope.verify(variant))
    }))

  it.effect.prop(
    "decode(encode(x)) is x for EXEC_REQUEST payloads that are I-JSON; others fail typed, never throw",
    [Envelope.Payloads.EXEC_REQUEST],
    ([payload]) =>
      Effect.gen(function*() {
        const { alice, bob } = yield* identities
        const draft = { type: "EXEC_REQUEST" as const, to: bob.did, payload }
        if (Result.isFailure(IJson.parse(JSON.stringify(payload)))) {
          const error = yield* Effect.flip(Envelope.make(alice, draft))
          assert.strictEqual(error._tag, "UnsignableEnvelope")
          return
        }
        const envelope = yield* Envelope.make(alice, draft)
        const wire = JSON.parse(Envelope.encode(envelope))
        const decoded = decodeEnvelope(wire)
        assert.strictEqual(decoded._tag, "Success")
        if (decoded._tag === "Success") assert.deepStrictEqual(decoded.success, wire)
        assert.isTrue(yield* Envelope.verify(envelope))
      }),
    { arbitrary: { runs: 60 } }
  )

  it("rejects REGISTERED whose session timeout is not over twice the heartbeat", () => {
    const decode = Schema.decodeUnknownResult(Envelope.Payloads.REGISTERED, { onExcessProperty: "error" })
    const base = { ...samples.REGISTERED.payload }
    assert.strictEqual(decode(base)._tag, "Success")
    assert.strictEqual(decode({ ...base, session_timeout_ms: 40_000 })._tag, "Failure")
  })

  it("limits REGISTER fields as PROTOCOL.md 4.2 says", () => {
    const decode = Schema.decodeUnknownResult(Envelope.Payloads.REGISTER, { onExcessProperty: "error" })
    const base = samples.REGISTER.payload
    const capability = { id: "c" }
    assert.strictEqual(decode(base)._tag, "Success")
    assert.strictEqual(decode({ ...base, capabilities: Array(33).fill(capability) })._tag, "Failure")
    assert.strictEqual(decode({ ...base, name: "x".repeat(65) })._tag, "Failure")
    assert.strictEqual(decode({ ...base, capabilities: [{ id: "x".repeat(129) }] })._tag, "Failure")
    assert.strictEqual(decode({ ...base, capabilities: [{ id: "c", tags: Array(17).fill("t") }] })._tag, "Failure")
    assert.strictEqual(decode({ ...base, capabilities: [{ id: "c", description: "d".repeat(1025) }] })._tag, "Failure")
    assert.strictEqual(decode({ ...base, endpoint: "https://gateway.example" })._tag, "Failure")
  })

  it("requires sdp_mid or sdp_mline_index on ICE_CANDIDATE and accepts the end-of-candidates marker", () => {
    const decode = Schema.decodeUnknownResult(Envelope.Payloads.ICE_CANDIDATE, { onExcessProperty: "error" })
    const { connection_id } = samples.ICE_CANDIDATE.payload
    assert.strictEqual(decode({ connection_id, candidate: "", sdp_mid: "0" })._tag, "Success")
    assert.strictEqual(decode({ connection_id, candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host" })._tag, "Failure")
    assert.strictEqual(decode({ connection_id, candidate: "a=candidate:1 1 udp 1 10.0.0.1 9 typ host", sdp_mline_index: 0 })._tag, "Failure")
  })

  it.effect("a fresh identity signs envelopes others can verify", () =>
    Effect.gen(function*() {
      const agent = yield* Identity.generate
      const { gateway } = yield* identities
      assert.isTrue(agent.did.startsWith("did:key:z6Mk"))
      const envelope = yield* Envelope.make(agent, { type: "UNREGISTER", to: gateway.did, payload: {} })
      assert.isTrue(yield* Envelope.verify(envelope))
    }))
})

describe("Envelope.isHeader", () => {
  const decodeHeader = Schema.decodeUnknownResult(Envelope.Header, { onExcessProperty: "error" })
  const agrees = (value: Record<string, unknown>) => {
    const fast = Envelope.isHeader(value)
    const schema = Result.isSuccess(decodeHeader(value))
    // The written-out checks never pass what the Schema refuses (the Schema words every refusal).
    assert.isTrue(!fast || schema, `isHeader passed what the Schema refuses: ${JSON.stringify(value)}`)
    return fast
  }

  it.effect("passes exactly the headers the Schema decodes, over the usual mistakes", () =>
    Effect.gen(function*() {
      const { alice, bob } = yield* identities
      const envelope = yield* Envelope.make(alice, { type: "BYE", to: bob.did, correlation_id: crypto.randomUUID(), payload: { connection_id: crypto.randomUUID() } })
      const valid = JSON.parse(Envelope.encode(envelope)) as Record<string, unknown>
      assert.isTrue(agrees(valid))
      const { to: _, ...withoutTo } = valid
      assert.isTrue(agrees(withoutTo))
      const broken: ReadonlyArray<Record<string, unknown>> = [
        { ...valid, extra: 1 },
        JSON.parse(`{"__proto__":1,${Envelope.encode(envelope).slice(1)}`),
        { ...valid, version: "1.1" },
        (({ version: _, ...rest }) => rest)(valid),
        { ...valid, id: "00000000-0000-0000-0000-000000000000" },
        { ...valid, id: String(valid.id).toUpperCase() },
        { ...valid, correlation_id: "nope" },
        { ...valid, timestamp: "2026-02-30T00:00:00.000Z" },
        { ...valid, timestamp: "2026-01-01T00:00:00Z" },
        { ...valid, from: "did:key:z6Mk" },
        { ...valid, to: 7 },
        { ...valid, type: "X".repeat(65) },
        { ...valid, payload: [] },
        { ...valid, payload: null },
        { ...valid, payload: "x" },
        { ...valid, signature: `${String(valid.signature).slice(0, 85)}B` },
        (({ signature: _, ...rest }) => rest)(valid)
      ]
      for (const value of broken) assert.isFalse(agrees(value), JSON.stringify(value).slice(0, 120))
    }))
})

describe("Envelope.isRelayedPayload", () => {
  const uuid = "0190a6e2-7c4b-7def-8abc-0123456789ab"
  const decoders = Object.fromEntries(
    [...Envelope.relayedTypes].map((type) => [type, Schema.decodeUnknownResult(Envelope.Payloads[type], { onExcessProperty: "error" })])
  ) as Record<Envelope.Type, (input: unknown) => Result.Result<unknown, Schema.SchemaError>>
  /** The written-out checks' answer, after asserting it is the Schema's. */
  const agrees = (type: Envelope.Type, payload: Record<string, unknown>) => {
    const fast = Envelope.isRelayedPayload(type, payload)
    const schema = Result.isSuccess(decoders[type](payload))
    assert.strictEqual(fast, schema, `${type} ${JSON.stringify(payload).slice(0, 160)}: written out ${fast}, Schema ${schema}`)
    return fast
  }
  const valid: Record<string, ReadonlyArray<Record<string, unknown>>> = {
    OFFER: [{ connection_id: uuid, sdp: "v=0\r\n" }, { connection_id: uuid, sdp: "" }, { connection_id: uuid, sdp: "é".repeat(16 * 1024) }],
    ANSWER: [{ connection_id: uuid, sdp: "x".repeat(32 * 1024) }],
    ICE_CANDIDATE: [
      { connection_id: uuid, candidate: "candidate:1 1 udp 1 127.0.0.1 9 typ host", sdp_mid: "0" },
      { connection_id: uuid, candidate: "", sdp_mline_index: 0 },
      { connection_id: uuid, candidate: "candidate:x", sdp_mline_index: 65535, sdp_mid: "", username_fragment: "u".repeat(256) }
    ],
    BYE: [{ connection_id: uuid }, { connection_id: uuid, reason: "r".repeat(256), code: "UNKNOWN_AGENT" }]
  }
  const broken: Record<string, ReadonlyArray<Record<string, unknown>>> = {
    OFFER: [
      {},
      { connection_id: uuid },
      { sdp: "v=0" },
      { connection_id: uuid, sdp: 1 },
      { connection_id: uuid.toUpperCase(), sdp: "v=0" },
      { connection_id: "00000000-0000-0000-0000-000000000000", sdp: "v=0" },
      { connection_id: uuid, sdp: "v=0", extra: true },
      { connection_id: uuid, sdp: "x".repeat(32 * 1024 + 1) },
      { connection_id: uuid, sdp: "é".repeat(16 * 1024 + 1) },
      JSON.parse(`{"__proto__":1,"connection_id":"${uuid}","sdp":"v=0"}`)
    ],
    ANSWER: [{ connection_id: uuid, sdp: null }, { connection_id: uuid, type: "answer", sdp: "v=0" }],
    ICE_CANDIDATE: [
      { connection_id: uuid, candidate: "candidate:x" },
      { connection_id: uuid, candidate: "host 1", sdp_mid: "0" },
      { connection_id: uuid, candidate: `candidate:${"x".repeat(1015)}`, sdp_mid: "0" },
      { connection_id: uuid, candidate: "", sdp_mline_index: -1 },
      { connection_id: uuid, candidate: "", sdp_mline_index: 65536 },
      { connection_id: uuid, candidate: "", sdp_mline_index: 1.5 },
      { connection_id: uuid, candidate: "", sdp_mline_index: "0" },
      { connection_id: uuid, candidate: "", sdp_mid: 0 },
      { connection_id: uuid, candidate: "", sdp_mid: "x".repeat(257) },
      { connection_id: uuid, candidate: "", sdp_mid: "0", username_fragment: 1 },
      { connection_id: uuid, candidate: "", sdp_mid: "0", sdpMid: "0" },
      { candidate: "", sdp_mid: "0" }
    ],
    BYE: [
      { connection_id: uuid, code: "NOT_A_CODE" },
      { connection_id: uuid, reason: "r".repeat(257) },
      { connection_id: uuid, reason: 1 },
      { connection_id: uuid, code: null },
      { connection_id: uuid, why: "x" }
    ]
  }

  it("passes exactly the relayed payloads the Schemas decode", () => {
    for (const type of Envelope.relayedTypes) {
      for (const payload of valid[type]!) assert.isTrue(agrees(type, payload))
      for (const payload of broken[type]!) assert.isFalse(agrees(type, payload))
      // One type's valid payload is another's mistake.
      for (const other of Envelope.relayedTypes) for (const payload of valid[other]!) agrees(type, payload)
    }
  })

  it("leaves every other type to its Schema", () => {
    for (const type of Envelope.Types) {
      if (Envelope.relayedTypes.has(type)) continue
      assert.isFalse(Envelope.isRelayedPayload(type, {}))
      assert.isFalse(Envelope.isRelayedPayload(type, { connection_id: uuid, sdp: "v=0" }))
    }
  })
})
