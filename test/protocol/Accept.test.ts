import { assert, describe, it } from "@effect/vitest"
import { hex } from "@scure/base"
import { Clock, Effect, Redacted, Result } from "effect"
import { TestClock } from "effect/testing"
import * as Accept from "../../src/protocol/Accept.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import { identities } from "../fixtures/samples.ts"
import { build, type VectorContext } from "../vectors/build.ts"
import envelopeVectors from "../vectors/envelopes.json" with { type: "json" }
import negativeVectors from "../vectors/negative.json" with { type: "json" }

/** A receiver configured as a vector's context says, with its clock set. */
const receiver = (context: VectorContext) =>
  Effect.gen(function*() {
    yield* TestClock.setTime(Date.parse(context.now))
    const accepted = new Set(context.accepted_types)
    const acceptContext: Accept.AcceptContext = {
      maxFrameBytes: context.max_frame_bytes,
      skewMs: context.skew_ms,
      refuseType: (type) => accepted.has(type) ? undefined : "UNSUPPORTED_TYPE",
      expectedFrom: context.expected_from,
      checkTo: (header) => Effect.succeed(header.to === undefined || header.to === context.receiver),
      replay: ReplayGuard.make()
    }
    for (const frame of context.previously_accepted ?? []) yield* Accept.accept(frame, acceptContext)
    return acceptContext
  })

describe("Accept.accept", () => {
  it.effect("the committed vectors are what build.ts produces", () =>
    Effect.gen(function*() {
      const built = yield* build
      assert.deepStrictEqual(JSON.parse(JSON.stringify(built.envelopes)), envelopeVectors.vectors)
      assert.deepStrictEqual(JSON.parse(JSON.stringify(built.negative)), negativeVectors.vectors)
    }))

  it.effect.each(envelopeVectors.vectors)("accepts the $name vector", (vector) =>
    Effect.gen(function*() {
      const context = yield* receiver(vector.context)
      const { envelope, text } = yield* Accept.accept(vector.frame, context)
      assert.strictEqual(text, vector.frame)
      assert.deepStrictEqual(envelope, JSON.parse(vector.frame))
      assert.strictEqual(hex.encode(Envelope.signingBytes(envelope)), vector.signing_input_hex)
      // Ed25519 is deterministic: the seed signs the same bytes to the same signature.
      const sender = yield* Identity.fromSeed(hex.decode(vector.sender_seed_hex))
      assert.strictEqual(sender.did, envelope.from)
      const resigned = yield* Envelope.sign(sender, envelope)
      assert.strictEqual(resigned.signature, envelope.signature)
    }))

  it.effect.each(negativeVectors.vectors)("refuses $name", (vector) =>
    Effect.gen(function*() {
      const context = yield* receiver(vector.context)
      const error = yield* Effect.flip(Accept.accept(vector.frame, context))
      assert.strictEqual(error._tag, "EnvelopeRejected")
      assert.deepStrictEqual({ code: error.code, step: error.step }, vector.expected)
    }))

  it.effect("refuses a copy of a signed envelope with any single byte changed", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 1 } })
      const bytes = new TextEncoder().encode(Envelope.encode(ping))
      for (let i = 0; i < bytes.length; i++) {
        const changed = Uint8Array.from(bytes)
        changed[i]! ^= 0x01
        const context: Accept.AcceptContext = {
          maxFrameBytes: 65536,
          binaryFrames: "utf8",
          refuseType: () => undefined,
          checkTo: () => Effect.succeed(true),
          replay: ReplayGuard.make()
        }
        const result = yield* Effect.result(Accept.accept(changed, context))
        assert.strictEqual(result._tag, "Failure", `byte ${i} changed and still accepted`)
      }
    }))

  const openContext = (overrides: Partial<Accept.AcceptContext> = {}): Accept.AcceptContext => ({
    maxFrameBytes: 65536,
    refuseType: () => undefined,
    checkTo: () => Effect.succeed(true),
    replay: ReplayGuard.make(),
    ...overrides
  })

  it.effect("refuses binary frames unless told they carry UTF-8 text", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const ping = Envelope.encode(yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: {} }))
      const bytes = new TextEncoder().encode(ping)
      const refused = yield* Effect.flip(Accept.accept(bytes, openContext()))
      assert.strictEqual(refused.code, "MALFORMED_MESSAGE")
      assert.strictEqual(refused.step, 2)
      const accepted = yield* Accept.accept(bytes, openContext({ binaryFrames: "utf8" }))
      assert.strictEqual(accepted.envelope.type, "PING")
      const invalidUtf8 = yield* Effect.flip(Accept.accept(Uint8Array.of(0x7b, 0xff, 0x7d), openContext({ binaryFrames: "utf8" })))
      assert.strictEqual(invalidUtf8.code, "MALFORMED_MESSAGE")
    }))

  it.effect("answers with the refusal code of the context (UNAUTHORIZED before registration), for unknown types too", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const context = openContext({ refuseType: (type) => type === "REGISTER" ? undefined : "UNAUTHORIZED" })
      const ping = Envelope.encode(yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: {} }))
      assert.strictEqual((yield* Effect.flip(Accept.accept(ping, context))).code, "UNAUTHORIZED")
      const unknown = ping.replace(`"type":"PING"`, `"type":"NOPE"`)
      assert.strictEqual((yield* Effect.flip(Accept.accept(unknown, context))).code, "UNAUTHORIZED")
      assert.strictEqual((yield* Effect.flip(Accept.accept(unknown, openContext()))).code, "UNSUPPORTED_TYPE")
    }))

  it.effect("carries the offending id as correlation_id, and server_time for a stale timestamp", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: {} })
      yield* TestClock.adjust("2 minutes")
      const stale = yield* Effect.flip(Accept.accept(Envelope.encode(ping), openContext()))
      assert.strictEqual(stale.code, "REPLAYED")
      assert.strictEqual(stale.correlation_id, ping.id)
      assert.strictEqual(stale.details?.server_time, Envelope.formatTimestamp(Date.parse(ping.timestamp) + 120_000))
      const garbage = yield* Effect.flip(Accept.accept(`{"id":"not-a-uuid"}`, openContext()))
      assert.isUndefined(garbage.correlation_id)
    }))

  it.effect("skips the signature only where the context says so", () =>
    Effect.gen(function*() {
      const { alice, bob } = yield* identities
      const offer = yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: globalThis.crypto.randomUUID() } })
      // A different first character: still 64 bytes, never the real signature.
      const forged = Envelope.encode({ ...offer, signature: (offer.signature.startsWith("A") ? "B" : "A") + offer.signature.slice(1) })
      assert.strictEqual((yield* Effect.flip(Accept.accept(forged, openContext()))).code, "INVALID_SIGNATURE")
      const relayed = yield* Accept.accept(forged, openContext({ verifySignature: (header) => !Envelope.relayedTypes.has(header.type as Envelope.Type) }))
      assert.strictEqual(relayed.envelope.type, "BYE")
    }))

  it.effect("verifies with the key the context holds for `from` (both paths), and with the DID's key when it holds none", () =>
    Effect.gen(function*() {
      const { alice, bob } = yield* identities
      const frame = () =>
        Effect.map(
          Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: globalThis.crypto.randomUUID() } }),
          Envelope.encode
        )
      const keys = (key: Uint8Array | undefined) => openContext({ publicKeyOf: (from) => (from === alice.did ? key : undefined) })
      assert.strictEqual((yield* Accept.accept(yield* frame(), keys(alice.publicKey))).envelope.from, alice.did)
      assert.strictEqual((yield* Accept.accept(yield* frame(), keys(undefined))).envelope.from, alice.did)
      // The key given wins over the DID's: with another key, alice's own signature fails.
      assert.strictEqual((yield* Effect.flip(Accept.accept(yield* frame(), keys(bob.publicKey)))).code, "INVALID_SIGNATURE")

      // The synchronous path a gateway session takes does the same.
      const ed25519 = NodeEd25519.make()
      const now = yield* Clock.currentTimeMillis
      const complete = (text: string, context: Accept.AcceptContext) =>
        Result.flatMap(Accept.read(text, context), (candidate) => Accept.complete(candidate, context, now, ed25519.verifySync!))
      assert.isTrue(Result.isSuccess(complete(yield* frame(), keys(alice.publicKey))))
      const wrongKey = complete(yield* frame(), keys(bob.publicKey))
      assert.isTrue(Result.isFailure(wrongKey) && wrongKey.failure.code === "INVALID_SIGNATURE")
    }))

  it.effect("fails closed with RATE_LIMITED when the sender's replay quota is full, and recovers when records expire", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const context = openContext({ replay: ReplayGuard.make({ maxPerSender: 3 }) })
      const ping = () => Effect.map(Envelope.make(alice, { type: "PING", to: gateway.did, payload: {} }), Envelope.encode)
      for (let i = 0; i < 3; i++) yield* Accept.accept(yield* ping(), context)
      const full = yield* Effect.flip(Accept.accept(yield* ping(), context))
      assert.strictEqual(full.code, "RATE_LIMITED")
      yield* TestClock.adjust("61 seconds")
      const later = yield* Accept.accept(yield* ping(), context)
      assert.strictEqual(later.envelope.type, "PING")
    }))

  it.effect("never logs or encodes the private seed", () =>
    Effect.gen(function*() {
      const { alice } = yield* identities
      const seedHex = hex.encode(Redacted.value(alice.seed))
      assert.notInclude(JSON.stringify(alice), seedHex)
      assert.notInclude(String(alice.seed), seedHex)
      assert.notInclude(JSON.stringify(alice), "a1a1a1")
    }))
})
