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
import { boundedMemo, CryptoError, Ed25519, type Ed25519Shape, seedToPkcs8 } from "./Ed25519.ts"

// SubjectPublicKeyInfo wrapping of a raw Ed25519 key (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

const privateKeyOf = (seed: Uint8Array) =>
  NodeCrypto.createPrivateKey({ key: Buffer.from(seedToPkcs8(seed)), format: "der", type: "pkcs8" })

const cryptoFailure = (operation: string) => (cause: unknown) =>
  new CryptoError({ operation, message: cause instanceof Error ? cause.message : String(cause) })

/** Builds the node:crypto implementation. */
export const make = (): Ed25519Shape => {
  const publicKeys = boundedMemo<string, NodeCrypto.KeyObject | null>(4096)
  // A key is kept among `publicKeys` from its second use on: each one holds ~3 KiB of native
  // memory, and a gateway verifies the REGISTER of every agent, most of which then stay idle.
  const recentKeys = boundedMemo<string, NodeCrypto.KeyObject | null>(64)
  const privateKeys = boundedMemo<Uint8Array, NodeCrypto.KeyObject>(64)

  const importPublic = (publicKey: Uint8Array): NodeCrypto.KeyObject | null => {
    const id = Buffer.from(publicKey).toString("latin1")
    const cached = publicKeys.get(id)
    if (cached !== undefined) return cached
    const recent = recentKeys.get(id)
    if (recent !== undefined) {
      publicKeys.set(id, recent)
      return recent
    }
    let key: NodeCrypto.KeyObject | null = null
    try {
      key = NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" })
    } catch {
      key = null
    }
    recentKeys.set(id, key)
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
    const key = importPublic(publicKey)
    if (key === null || signature.length !== 64) return false
    try {
      return NodeCrypto.verify(null, data, key, signature)
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
