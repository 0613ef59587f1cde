/**
 * An agent's (or a gateway's) identity: an Ed25519 key pair and its did:key.
 *
 * The private key is either a seed (files, Node) kept inside `Redacted`, so logging or printing an
 * identity never shows it, or a non-extractable WebCrypto `CryptoKey` (browsers: `BrowserIdentity`),
 * which signs without the key ever being readable by the page.
 *
 * @since 0.1.0
 */
import { Effect, Redacted } from "effect"
import * as Did from "./Did.ts"
import { CryptoError, Ed25519 } from "./Ed25519.ts"

/** A DID together with the seed that signs for it. */
export interface SeedIdentity {
  readonly did: Did.Did
  readonly publicKey: Uint8Array
  readonly seed: Redacted.Redacted<Uint8Array>
}

/** A DID together with a WebCrypto Ed25519 private key (usually non-extractable) that signs for it. */
export interface CryptoKeyIdentity {
  readonly did: Did.Did
  readonly publicKey: Uint8Array
  readonly privateKey: CryptoKey
}

/** A DID together with the key that signs for it. */
export type Identity = SeedIdentity | CryptoKeyIdentity

const fromKeys = (publicKey: Uint8Array, seed: Redacted.Redacted<Uint8Array>): SeedIdentity => ({
  did: Did.fromPublicKey(publicKey),
  publicKey,
  seed
})

/** A fresh random identity. */
export const generate: Effect.Effect<SeedIdentity, CryptoError> = Effect.gen(function*() {
  const ed25519 = yield* Ed25519
  const { publicKey, seed } = yield* ed25519.generate
  return fromKeys(publicKey, seed)
})

/** The identity of a 32-byte seed (the RFC 8032 private key); deterministic. */
export const fromSeed = (seed: Uint8Array): Effect.Effect<SeedIdentity, CryptoError> =>
  Effect.gen(function*() {
    const ed25519 = yield* Ed25519
    const redacted = Redacted.make(Uint8Array.from(seed))
    const publicKey = yield* ed25519.publicKeyOf(redacted)
    return fromKeys(publicKey, redacted)
  })

/** The identity of a WebCrypto Ed25519 key pair (the private key may be non-extractable). */
export const fromCryptoKeys = (keys: { readonly publicKey: CryptoKey; readonly privateKey: CryptoKey }): Effect.Effect<CryptoKeyIdentity, CryptoError> =>
  Effect.tryPromise({
    try: async () => {
      const publicKey = new Uint8Array(await globalThis.crypto.subtle.exportKey("raw", keys.publicKey))
      return { did: Did.fromPublicKey(publicKey), publicKey, privateKey: keys.privateKey }
    },
    catch: (cause) => new CryptoError({ operation: "fromCryptoKeys", message: cause instanceof Error ? cause.message : String(cause) })
  })

/** Signs bytes with an identity's key. */
export const sign = (identity: Identity, data: Uint8Array): Effect.Effect<Uint8Array, CryptoError> =>
  "seed" in identity
    ? Effect.flatMap(Ed25519, (ed25519) => ed25519.sign(identity.seed, data))
    : Effect.tryPromise({
      try: async () => new Uint8Array(await globalThis.crypto.subtle.sign({ name: "Ed25519" }, identity.privateKey, data as Uint8Array<ArrayBuffer>)),
      catch: (cause) => new CryptoError({ operation: "sign", message: cause instanceof Error ? cause.message : String(cause) })
    })
