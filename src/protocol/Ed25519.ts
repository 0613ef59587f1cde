/**
 * Ed25519 signatures as a swappable service.
 *
 * The default implementation is WebCrypto, so the protocol core runs in browsers and Node alike.
 * Node processes that verify many envelopes (the gateway) may provide `NodeEd25519.layer`, which
 * verifies synchronously and avoids WebCrypto's per-call promise and thread-pool round trip.
 *
 * @since 0.1.0
 */
import { base64urlnopad } from "@scure/base"
import { Context, Effect, Redacted, Schema } from "effect"
import { boundedMemo } from "../util/BoundedMemo.ts"

/** A key operation failed (a malformed seed, or the platform lacks Ed25519). */
export class CryptoError extends Schema.TaggedError<CryptoError>()("CryptoError", {
  operation: Schema.String,
  message: Schema.String
}) {}

/** A 32-byte Ed25519 public key and its 32-byte seed (the RFC 8032 private key), kept redacted. */
export interface KeyPair {
  readonly publicKey: Uint8Array
  readonly seed: Redacted.Redacted<Uint8Array>
}

/** What the protocol needs from an Ed25519 implementation. */
export interface Ed25519Shape {
  /** A fresh key pair from the platform's secure random source. */
  readonly generate: Effect.Effect<KeyPair, CryptoError>
  /** The public key of a 32-byte seed. */
  readonly publicKeyOf: (seed: Redacted.Redacted<Uint8Array>) => Effect.Effect<Uint8Array, CryptoError>
  /** A 64-byte signature of `data`. */
  readonly sign: (seed: Redacted.Redacted<Uint8Array>, data: Uint8Array) => Effect.Effect<Uint8Array, CryptoError>
  /** Whether `signature` is valid for `data` under `publicKey`; never fails, a bad key is `false`. */
  readonly verify: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => Effect.Effect<boolean>
  /** `verify` without an Effect, for implementations that verify synchronously (node:crypto). */
  readonly verifySync?: ((publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array) => boolean) | undefined
}

// PKCS#8 wrapping of an Ed25519 seed (RFC 8410): the fixed DER prefix, then the 32 seed bytes.
const PKCS8_PREFIX = new Uint8Array([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20
])

/** The PKCS#8 DER form of a 32-byte seed, as WebCrypto and node:crypto import it. */
export const seedToPkcs8 = (seed: Uint8Array): Uint8Array => {
  const der = new Uint8Array(PKCS8_PREFIX.length + 32)
  der.set(PKCS8_PREFIX)
  der.set(seed, PKCS8_PREFIX.length)
  return der
}

// WebCrypto's typings want ArrayBuffer-backed views; ours never sit on a SharedArrayBuffer.
const buffer = (bytes: Uint8Array): Uint8Array<ArrayBuffer> => bytes as Uint8Array<ArrayBuffer>

const keyId = (bytes: Uint8Array): string => String.fromCharCode(...bytes)

const cryptoFailure = (operation: string) => (cause: unknown) =>
  new CryptoError({ operation, message: cause instanceof Error ? cause.message : String(cause) })

const makeWebCrypto = (): Ed25519Shape => {
  const subtle = globalThis.crypto.subtle
  const algorithm = { name: "Ed25519" }
  const publicKeys = boundedMemo<string, Promise<CryptoKey>>(4096)
  const privateKeys = boundedMemo<Uint8Array, Promise<CryptoKey>>(64)

  const importSeed = (seed: Uint8Array): Promise<CryptoKey> => {
    const cached = privateKeys.get(seed)
    if (cached) return cached
    const key = subtle.importKey("pkcs8", buffer(seedToPkcs8(seed)), algorithm, true, ["sign"])
    privateKeys.set(seed, key)
    return key
  }
  const importPublic = (publicKey: Uint8Array): Promise<CryptoKey> => {
    const id = keyId(publicKey)
    const cached = publicKeys.get(id)
    if (cached) return cached
    const key = subtle.importKey("raw", buffer(publicKey), algorithm, false, ["verify"])
    key.catch(() => undefined)
    publicKeys.set(id, key)
    return key
  }
  const publicKeyOf = (seed: Redacted.Redacted<Uint8Array>) =>
    Effect.tryPromise({
      try: async () => {
        const jwk = await subtle.exportKey("jwk", await importSeed(Redacted.value(seed)))
        return base64urlnopad.decode(jwk.x ?? "")
      },
      catch: cryptoFailure("publicKeyOf")
    })

  return {
    generate: Effect.gen(function*() {
      const seed = Redacted.make(globalThis.crypto.getRandomValues(new Uint8Array(32)))
      const publicKey = yield* publicKeyOf(seed)
      return { publicKey, seed }
    }),
    publicKeyOf,
    sign: (seed, data) =>
      Effect.tryPromise({
        try: async () => new Uint8Array(await subtle.sign(algorithm, await importSeed(Redacted.value(seed)), buffer(data))),
        catch: cryptoFailure("sign")
      }),
    verify: (publicKey, signature, data) =>
      Effect.promise(async () => {
        try {
          return await subtle.verify(algorithm, await importPublic(publicKey), buffer(signature), buffer(data))
        } catch {
          return false
        }
      })
  }
}

/** The Ed25519 implementation in use; WebCrypto unless a Layer provides another. */
export const Ed25519 = Context.Reference<Ed25519Shape>("aiconexus/protocol/Ed25519", {
  defaultValue: makeWebCrypto
})
