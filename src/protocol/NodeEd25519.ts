/**
 * Ed25519 on node:crypto: a Node-only Layer for processes that verify many envelopes.
 *
 * node:crypto verifies synchronously, without the promise and thread-pool hop of WebCrypto,
 * which roughly halves the cost of a verification (see `npm run bench -- protocol`).
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { Effect, Layer, Redacted } from "effect"
import { CryptoError, Ed25519, type Ed25519Shape, seedToPkcs8 } from "./Ed25519.ts"
import { boundedMemo } from "../util/BoundedMemo.ts"

// SubjectPublicKeyInfo wrapping of a raw Ed25519 key (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

const privateKeyOf = (seed: Uint8Array) =>
  NodeCrypto.createPrivateKey({ key: Buffer.from(seedToPkcs8(seed)), format: "der", type: "pkcs8" })

const cryptoFailure = (operation: string) => (cause: unknown) =>
  new CryptoError({ operation, message: cause instanceof Error ? cause.message : String(cause) })

/** Builds the node:crypto implementation. */
export const make = (): Ed25519Shape => {
  const publicKeys = boundedMemo<string, NodeCrypto.KeyObject | null>(4096)
  // A KeyObject is made and kept from a key's second use on. Its first use (for a gateway, the
  // REGISTER of an agent that then mostly stays idle) verifies with a key that node:crypto makes
  // and frees within the call: a KeyObject's ~3 KiB of native memory would live until the garbage
  // collector finds its wrapper, and a burst of registrations would leave the malloc heap that much
  // larger for good.
  // As many as `publicKeys`: with more senders taking turns than it holds, no key would ever
  // reach its second use here and every frame would import its key again.
  const usedOnce = boundedMemo<string, true>(4096)
  const privateKeys = boundedMemo<Uint8Array, NodeCrypto.KeyObject>(64)

  const spkiOf = (publicKey: Uint8Array) => Buffer.concat([SPKI_PREFIX, publicKey])
  const importPublic = (id: string, publicKey: Uint8Array): NodeCrypto.KeyObject | null => {
    let key: NodeCrypto.KeyObject | null = null
    try {
      key = NodeCrypto.createPublicKey({ key: spkiOf(publicKey), format: "der", type: "spki" })
    } catch {
      key = null
    }
    publicKeys.set(id, key)
    return key
  }
  const importSeed = (seed: Uint8Array): NodeCrypto.KeyObject => {
    const cached = privateKeys.get(seed)
    if (cached) return cached
    const key = privateKeyOf(seed)
    privateKeys.set(seed, key)
    return key
  }
  const verifySync = (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array): boolean => {
    if (signature.length !== 64) return false
    const id = Buffer.from(publicKey).toString("latin1")
    let key = publicKeys.get(id)
    try {
      if (key === undefined) {
        if (usedOnce.get(id) === undefined) {
          usedOnce.set(id, true)
          return NodeCrypto.verify(null, data, { key: spkiOf(publicKey), format: "der", type: "spki" }, signature)
        }
        key = importPublic(id, publicKey)
      }
      return key !== null && NodeCrypto.verify(null, data, key, signature)
    } catch {
      return false
    }
  }
  const publicKeyOf = (seed: Redacted.Redacted<Uint8Array>) =>
    Effect.try({
      try: () => {
        const der = NodeCrypto.createPublicKey(importSeed(Redacted.value(seed))).export({ format: "der", type: "spki" })
        return new Uint8Array(der.subarray(SPKI_PREFIX.length))
      },
      catch: cryptoFailure("publicKeyOf")
    })

  return {
    generate: Effect.gen(function*() {
      const seed = Redacted.make(new Uint8Array(NodeCrypto.randomBytes(32)))
      const publicKey = yield* publicKeyOf(seed)
      return { publicKey, seed }
    }),
    publicKeyOf,
    sign: (seed, data) =>
      Effect.try({
        try: () => new Uint8Array(NodeCrypto.sign(null, data, importSeed(Redacted.value(seed)))),
        catch: cryptoFailure("sign")
      }),
    verify: (publicKey, signature, data) => Effect.sync(() => verifySync(publicKey, signature, data)),
    verifySync
  }
}

/** Provides node:crypto as the `Ed25519` implementation. */
export const layer: Layer.Layer<never> = Layer.succeed(Ed25519, make())
