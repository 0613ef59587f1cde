import { assert, describe, it } from "@effect/vitest"
import { ED25519_TORSION_SUBGROUP } from "@noble/curves/ed25519.js"
import { base58, hex } from "@scure/base"
import { Effect, Result, Schema } from "effect"
import * as Did from "../../src/protocol/Did.ts"
import vectors from "../vectors/did-key-ed25519.json" with { type: "json" }

const failureOf = <A, E>(result: Result.Result<A, E>): E | undefined =>
  Result.isFailure(result) ? result.failure : undefined
const didOfBytes = (bytes: Uint8Array) => "did:key:z" + base58.encode(bytes)
const didOfKey = (key: Uint8Array) => didOfBytes(Uint8Array.of(0xed, 0x01, ...key))

describe("Did", () => {
  it.each(vectors.vectors)("decodes the W3C did:key vector $did", (vector) => {
    const key = Did.decode(vector.did)
    assert.isTrue(Result.isSuccess(key))
    assert.strictEqual(hex.encode(Result.getOrThrow(key)), vector.publicKeyHex)
    assert.strictEqual(Did.fromPublicKey(hex.decode(vector.publicKeyHex)), vector.did)
  })

  const malformed: Array<[string, string]> = [
    ["empty", ""],
    ["another method", "did:web:example.com"],
    ["no multibase prefix", "did:key:6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"],
    ["a fragment", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK#z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"],
    ["a path", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK/path"],
    ["a query", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK?x=1"],
    ["a non-base58 character (0)", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do0"],
    ["a truncated key", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2do"],
    ["an X25519 multicodec (0xec01)", didOfBytes(Uint8Array.of(0xec, 0x01, ...new Uint8Array(32).fill(9)))],
    ["a secp256k1 multicodec (0xe701)", didOfBytes(Uint8Array.of(0xe7, 0x01, ...new Uint8Array(33).fill(2)))],
    ["a 31-byte key", didOfBytes(Uint8Array.of(0xed, 0x01, ...new Uint8Array(31).fill(7)))]
  ]
  it.each(malformed)("rejects a DID with %s", (_name, did) => {
    const result = Did.decode(did)
    assert.isTrue(Result.isFailure(result))
    assert.strictEqual(failureOf(result)?._tag, "InvalidDid")
    assert.isFalse(Schema.is(Did.Did)(did))
  })

  it.each(ED25519_TORSION_SUBGROUP.map((point, index) => [index, point] as const))(
    "rejects small-order key %i (a point of the torsion subgroup)",
    (_index, point) => {
      const did = didOfKey(hex.decode(point))
      // The syntax is fine; only the key check refuses it.
      assert.isTrue(Schema.is(Did.Did)(did))
      const result = Did.decode(did)
      assert.isTrue(Result.isFailure(result))
      assert.include(failureOf(result)?.reason, "small order")
    }
  )

  it("rejects a key that is not a point of the curve, and a non-canonical encoding", () => {
    const notOnCurve = new Uint8Array(32)
    notOnCurve[0] = 2 // y = 2 has no x on edwards25519
    const nonCanonical = hex.decode("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f") // y = p
    for (const key of [notOnCurve, nonCanonical]) {
      assert.isFalse(Did.isUsableKey(key))
      assert.isTrue(Result.isFailure(Did.decode(didOfKey(key))))
    }
  })

  it.effect("parse fails with a typed InvalidDid", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Did.parse("did:key:nope"))
      assert.strictEqual(error._tag, "InvalidDid")
      assert.include(error.message, "did:key:nope")
    }))

  it.prop("fromPublicKey and decode round-trip for usable keys", [Schema.Uint8Array], ([bytes]) => {
    const key = new Uint8Array(32)
    key.set(bytes.subarray(0, 32))
    const did = Did.fromPublicKey(key)
    assert.isTrue(did.startsWith("did:key:z6Mk"))
    const decoded = Did.decode(did)
    if (Did.isUsableKey(key)) {
      assert.deepStrictEqual(Result.getOrThrow(decoded), key)
    } else {
      assert.isTrue(Result.isFailure(decoded))
    }
  })
})
