import { assert, describe, it } from "@effect/vitest"
import { hex } from "@scure/base"
import { Effect, Layer, Redacted } from "effect"
import { Ed25519 } from "../../src/protocol/Ed25519.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import vectors from "../vectors/rfc8032-ed25519.json" with { type: "json" }

const implementations = [
  ["WebCrypto (default)", Layer.empty],
  ["node:crypto (NodeEd25519.layer)", NodeEd25519.layer]
] as const

describe.each(implementations)("Ed25519 on %s", (_name, layer) => {
  it.effect.each(vectors.vectors)("matches RFC 8032 $name", (vector) =>
    Effect.gen(function*() {
      const ed25519 = yield* Ed25519
      const seed = Redacted.make(hex.decode(vector.secretKey))
      const message = hex.decode(vector.message)
      assert.strictEqual(hex.encode(yield* ed25519.publicKeyOf(seed)), vector.publicKey)
      assert.strictEqual(hex.encode(yield* ed25519.sign(seed, message)), vector.signature)
      assert.isTrue(yield* ed25519.verify(hex.decode(vector.publicKey), hex.decode(vector.signature), message))
    }).pipe(Effect.provide(layer)))

  it.effect("refuses a signature over other bytes, a wrong key and malformed input without failing", () =>
    Effect.gen(function*() {
      const ed25519 = yield* Ed25519
      const [first, second] = vectors.vectors as [typeof vectors.vectors[0], typeof vectors.vectors[0]]
      const publicKey = hex.decode(first.publicKey)
      const signature = hex.decode(first.signature)
      assert.isFalse(yield* ed25519.verify(publicKey, signature, Uint8Array.of(1)))
      assert.isFalse(yield* ed25519.verify(hex.decode(second.publicKey), signature, hex.decode(first.message)))
      assert.isFalse(yield* ed25519.verify(publicKey, signature.subarray(0, 63), hex.decode(first.message)))
      assert.isFalse(yield* ed25519.verify(new Uint8Array(5), signature, hex.decode(first.message)))
    }).pipe(Effect.provide(layer)))

  it.effect("generates distinct key pairs whose signatures verify", () =>
    Effect.gen(function*() {
      const ed25519 = yield* Ed25519
      const a = yield* ed25519.generate
      const b = yield* ed25519.generate
      assert.notDeepEqual(a.publicKey, b.publicKey)
      assert.strictEqual(String(a.seed), "<redacted>")
      const data = new TextEncoder().encode("hello")
      assert.isTrue(yield* ed25519.verify(a.publicKey, yield* ed25519.sign(a.seed, data), data))
      assert.isFalse(yield* ed25519.verify(b.publicKey, yield* ed25519.sign(a.seed, data), data))
    }).pipe(Effect.provide(layer)))
})
