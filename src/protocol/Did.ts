/**
 * did:key identities for Ed25519 keys (W3C did:key method, PROTOCOL.md section 1).
 *
 * `did:key:z` + base58btc(0xed 0x01 || 32-byte public key). Syntax is checked cheaply on every
 * envelope; whether the key is a valid point outside the small-order subgroup is checked once
 * per DID and remembered, since that costs as much as a signature verification.
 *
 * @since 0.1.0
 */
import { ed25519 } from "@noble/curves/ed25519.js"
import { base58 } from "@scure/base"
import { Effect, Result, Schema } from "effect"
import { boundedMemo } from "../util/BoundedMemo.ts"

/** A string was not a valid Ed25519 did:key. */
export class InvalidDid extends Schema.TaggedError<InvalidDid>()("InvalidDid", {
  did: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid DID ${JSON.stringify(this.did.slice(0, 80))}: ${this.reason}`
  }
}

const PREFIX = "did:key:z"
const MULTICODEC_ED25519 = [0xed, 0x01] as const
const BASE58_BTC = /^[1-9A-HJ-NP-Za-km-z]+$/

const parseSyntax = (did: string): Result.Result<Uint8Array, InvalidDid> => {
  const fail = (reason: string) => Result.fail(new InvalidDid({ did, reason }))
  if (!did.startsWith(PREFIX)) return fail("not a did:key with a base58btc ('z') multibase key")
  const encoded = did.slice(PREFIX.length)
  // 34 bytes are 46 to 47 base58 characters; anything else cannot be right.
  if (encoded.length < 40 || encoded.length > 50) return fail("wrong length")
  if (!BASE58_BTC.test(encoded)) return fail("not base58btc, or has a path, query or fragment")
  const bytes = base58.decode(encoded)
  if (bytes.length !== 34) return fail("the multicodec key is not 34 bytes")
  if (bytes[0] !== MULTICODEC_ED25519[0] || bytes[1] !== MULTICODEC_ED25519[1]) {
    return fail("the multicodec is not ed25519-pub (0xed01)")
  }
  return Result.succeed(bytes.subarray(2))
}

// Every envelope names two DIDs, mostly the same few: remember recent answers.
const syntaxMemo = boundedMemo<string, Result.Result<Uint8Array, InvalidDid>>(16384)

/** Decodes the key of a DID without checking the curve point. */
export const decodeSyntax = (did: string): Result.Result<Uint8Array, InvalidDid> => {
  let result = syntaxMemo.get(did)
  if (result === undefined) {
    result = parseSyntax(did)
    // Only well-formed DIDs are remembered, so junk cannot push them out.
    if (Result.isSuccess(result)) syntaxMemo.set(did, result)
  }
  return result
}

/** Whether a 32-byte public key is a canonical Ed25519 point outside the small-order subgroup. */
export const isUsableKey = (publicKey: Uint8Array): boolean => {
  try {
    return !ed25519.Point.fromBytes(publicKey, false).isSmallOrder()
  } catch {
    return false
  }
}

const usable = boundedMemo<string, boolean>(16384)

/** Decodes a DID into its 32-byte public key, rejecting bad syntax, invalid and small-order keys. */
export const decode = (did: string): Result.Result<Uint8Array, InvalidDid> =>
  Result.flatMap(decodeSyntax(did), (key) => {
    let ok = usable.get(did)
    if (ok === undefined) {
      ok = isUsableKey(key)
      usable.set(did, ok)
    }
    return ok ? Result.succeed(key) : Result.fail(new InvalidDid({ did, reason: "the key is not a valid Ed25519 point or is of small order" }))
  })

/** A syntactically valid Ed25519 did:key (`did:key:z6Mk…`). */
export const Did = Schema.String.check(
  Schema.makeFilter((s: string) => Result.isSuccess(decodeSyntax(s)) || "expected an Ed25519 did:key", {
    identifier: "Did",
    description: "an Ed25519 did:key"
  })
).pipe(Schema.brand("Did"))

/** A syntactically valid Ed25519 did:key. */
export type Did = typeof Did.Type

/** The DID of a 32-byte Ed25519 public key. */
export const fromPublicKey = (publicKey: Uint8Array): Did => {
  const bytes = new Uint8Array(34)
  bytes.set(MULTICODEC_ED25519)
  bytes.set(publicKey, 2)
  return (PREFIX + base58.encode(bytes)) as Did
}

/** Parses and fully validates a DID, as an Effect. */
export const parse = (did: string): Effect.Effect<Did, InvalidDid> =>
  Effect.fromResult(Result.map(decode(did), () => did as Did))
