/**
 * An agent's (or a gateway's) identity: an Ed25519 key pair and its did:key.
 *
 * The seed stays inside `Redacted`, so logging or printing an identity never shows it.
 *
 * @since 0.1.0
 */
import { Effect, Redacted } from "effect"
import * as Did from "./Did.ts"
import { type CryptoError, Ed25519 } from "./Ed25519.ts"

/** A DID together with the key that signs for it. */
export interface Identity {
  readonly did: Did.Did
  readonly publicKey: Uint8Array
  readonly seed: Redacted.Redacted<Uint8Array>
}

const fromKeys = (publicKey: Uint8Array, seed: Redacted.Redacted<Uint8Array>): Identity => ({
  did: Did.fromPublicKey(publicKey),
  publicKey,
  seed
})

/** A fresh random identity. */
export const generate: Effect.Effect<Identity, CryptoError> = Effect.gen(function*() {
  const ed25519 = yield* Ed25519
  const { publicKey, seed } = yield* ed25519.generate
  return fromKeys(publicKey, seed)
})

/** The identity of a 32-byte seed (the RFC 8032 private key); deterministic. */
export const fromSeed = (seed: Uint8Array): Effect.Effect<Identity, CryptoError> =>
  Effect.gen(function*() {
    const ed25519 = yield* Ed25519
    const redacted = Redacted.make(Uint8Array.from(seed))
    const publicKey = yield* ed25519.publicKeyOf(redacted)
    return fromKeys(publicKey, redacted)
  })

/** Signs bytes with an identity's key. */
export const sign = (identity: Identity, data: Uint8Array): Effect.Effect<Uint8Array, CryptoError> =>
  Effect.flatMap(Ed25519, (ed25519) => ed25519.sign(identity.seed, data))
