/**
 * Pinned gateway DIDs kept in IndexedDB (`BrowserStorage`), the browser counterpart of
 * `KnownGateways.layerFile`: a tab keeps trusting the gateway it met first after a reload.
 *
 * @since 0.1.0
 */
import { Effect, Layer, Option } from "effect"
import { addressOf, KnownGateways, KnownGatewaysError } from "../client/KnownGateways.ts"
import { BrowserStorage, type BrowserStorageError } from "./BrowserStorage.ts"

const failure = (url: string) => (error: BrowserStorageError) => new KnownGatewaysError({ path: `indexeddb:${addressOf(url)}`, reason: error.reason })

/** Gateway pins in the agent's IndexedDB database. */
export const layer: Layer.Layer<KnownGateways, never, BrowserStorage> = Layer.effect(KnownGateways, Effect.gen(function*() {
  const storage = yield* BrowserStorage
  return KnownGateways.of({
    get: (url) =>
      storage.get("gateways", addressOf(url)).pipe(
        Effect.map((did) => typeof did === "string" ? Option.some(did) : Option.none()),
        Effect.mapError(failure(url))
      ),
    pin: (url, did) => Effect.mapError(storage.put("gateways", addressOf(url), did), failure(url))
  })
}))
