/**
 * Browser storage for an agent: one IndexedDB database holding its identity's keys and its pinned
 * gateway DIDs, the browser's counterpart of the identity file and `known-gateways.json`.
 *
 * IndexedDB stores `CryptoKey`s by structured clone, non-extractable ones included: the page can
 * sign with the private key after a reload but never read it.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Schema } from "effect"

/** An IndexedDB request failed (storage disabled, quota, a blocked upgrade). */
export class BrowserStorageError extends Schema.TaggedError<BrowserStorageError>()("BrowserStorageError", {
  operation: Schema.String,
  reason: Schema.String
}) {}

/** The object stores of the database. */
export type Store = "identities" | "gateways"

const STORES: ReadonlyArray<Store> = ["identities", "gateways"]

// A DOMException says what went wrong in its name (ConstraintError, QuotaExceededError, …).
const reasonOf = (error: unknown) => error instanceof Error ? `${error.name}: ${error.message}` : String(error ?? "unknown error")

/** A request's result, or its error. */
const request = <A>(operation: string, make: () => IDBRequest<A>): Effect.Effect<A, BrowserStorageError> =>
  Effect.callback<A, BrowserStorageError>((resume) => {
    let req: IDBRequest<A>
    try {
      req = make()
    } catch (error) {
      resume(Effect.fail(new BrowserStorageError({ operation, reason: reasonOf(error) })))
      return
    }
    req.onsuccess = () => resume(Effect.succeed(req.result))
    req.onerror = () => resume(Effect.fail(new BrowserStorageError({ operation, reason: reasonOf(req.error) })))
  })

/** One IndexedDB database of the agent. */
export class BrowserStorage extends Context.Service<BrowserStorage, {
  readonly get: (store: Store, key: string) => Effect.Effect<unknown, BrowserStorageError>
  readonly put: (store: Store, key: string, value: unknown) => Effect.Effect<void, BrowserStorageError>
  /** Adds `value` unless `key` is taken; returns whether it was added. */
  readonly add: (store: Store, key: string, value: unknown) => Effect.Effect<boolean, BrowserStorageError>
}>()("aiconexus/browser/BrowserStorage") {
  /** The database `name` (default `aiconexus`), opened for the Layer's life. */
  static readonly layer = (name = "aiconexus"): Layer.Layer<BrowserStorage, BrowserStorageError> =>
    Layer.effect(BrowserStorage, Effect.gen(function*() {
      const db = yield* Effect.acquireRelease(
        request("open", () => {
          const opening = globalThis.indexedDB.open(name, 1)
          opening.onupgradeneeded = () => {
            for (const store of STORES) {
              if (!opening.result.objectStoreNames.contains(store)) opening.result.createObjectStore(store)
            }
          }
          return opening
        }),
        (db) => Effect.sync(() => db.close())
      )
      const objectStore = (store: Store, mode: IDBTransactionMode) => db.transaction(store, mode).objectStore(store)
      return BrowserStorage.of({
        get: (store, key) => request(`get ${store}`, () => objectStore(store, "readonly").get(key)),
        put: (store, key, value) => Effect.asVoid(request(`put ${store}`, () => objectStore(store, "readwrite").put(value, key))),
        add: (store, key, value) =>
          request(`add ${store}`, () => objectStore(store, "readwrite").add(value, key)).pipe(
            Effect.as(true),
            // A key that exists already fails the request with ConstraintError.
            Effect.catch((error) => error.reason.startsWith("ConstraintError") ? Effect.succeed(false) : Effect.fail(error))
          )
      })
    }))
}
