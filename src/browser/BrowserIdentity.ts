/**
 * Identities kept in the browser: an Ed25519 key pair made by WebCrypto with a non-extractable
 * private key, stored in IndexedDB (`BrowserStorage`), so the DID survives a reload while no script
 * can read the key (the browser counterpart of `IdentityFile`).
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as Identity from "../protocol/Identity.ts"
import { BrowserStorage, type BrowserStorageError } from "./BrowserStorage.ts"
import { CryptoError } from "../protocol/Ed25519.ts"

/** The stored record was not a key pair of this DID. */
export class BrowserIdentityError extends Schema.TaggedError<BrowserIdentityError>()("BrowserIdentityError", {
  name: Schema.String,
  reason: Schema.String
}) {}

interface StoredKeys {
  readonly publicKey: CryptoKey
  readonly privateKey: CryptoKey
}

const isStoredKeys = (value: unknown): value is StoredKeys =>
  typeof value === "object" && value !== null &&
  (value as StoredKeys).publicKey instanceof CryptoKey && (value as StoredKeys).privateKey instanceof CryptoKey &&
  (value as StoredKeys).privateKey.algorithm.name === "Ed25519" && (value as StoredKeys).privateKey.usages.includes("sign")

/** A new Ed25519 key pair whose private key cannot be exported. */
export const generateKeys: Effect.Effect<StoredKeys, CryptoError> = Effect.tryPromise({
  try: () => globalThis.crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as Promise<CryptoKeyPair>,
  catch: (cause) => new CryptoError({ operation: "generateKey", message: cause instanceof Error ? cause.message : String(cause) })
})

/**
 * The identity stored under `name` (default `agent`), made and stored when there is none. Two tabs
 * starting at once end with the same identity: only the first stored key pair is kept.
 */
export const loadOrCreate = (name = "agent"): Effect.Effect<Identity.CryptoKeyIdentity, BrowserStorageError | BrowserIdentityError | CryptoError, BrowserStorage> =>
  Effect.gen(function*() {
    const storage = yield* BrowserStorage
    const stored = yield* storage.get("identities", name)
    if (stored === undefined) {
      yield* storage.add("identities", name, yield* generateKeys)
      return yield* loadOrCreate(name)
    }
    if (!isStoredKeys(stored)) return yield* new BrowserIdentityError({ name, reason: "the stored record is not an Ed25519 key pair" })
    return yield* Identity.fromCryptoKeys(stored)
  })
