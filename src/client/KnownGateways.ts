/**
 * Known gateways: the gateway DID pinned for each gateway address on first use (trust on first
 * use, PROTOCOL.md section 6), so a later connection to an impostor is refused.
 *
 * The file Layer keeps them as JSON (beside the identity file) through Effect's `FileSystem`, so
 * this module stays browser-safe; the memory Layer keeps them for the life of the process.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema, Semaphore } from "effect"
import * as FileSystem from "effect/FileSystem"
import * as Path from "effect/Path"

/** The pins could not be read or written. */
export class KnownGatewaysError extends Schema.TaggedError<KnownGatewaysError>()("KnownGatewaysError", {
  path: Schema.String,
  reason: Schema.String
}) {}

/** The address a pin is kept under: scheme, host and port of a gateway URL. */
export const addressOf = (url: string): string => {
  const parsed = new URL(url)
  return `${parsed.protocol}//${parsed.host}`
}

/** Gateway DIDs pinned per address. */
export class KnownGateways extends Context.Service<KnownGateways, {
  readonly get: (url: string) => Effect.Effect<Option.Option<string>, KnownGatewaysError>
  /** Pins `did` for the address of `url` (replacing nothing: callers check `get` first). */
  readonly pin: (url: string, did: string) => Effect.Effect<void, KnownGatewaysError>
}>()("aiconexus/client/KnownGateways") {
  /** Pins kept in memory only. */
  static readonly layerMemory: Layer.Layer<KnownGateways> = Layer.sync(KnownGateways, () => {
    const pins = new Map<string, string>()
    return {
      get: (url) => Effect.sync(() => Option.fromUndefinedOr(pins.get(addressOf(url)))),
      pin: (url, did) => Effect.sync(() => void pins.set(addressOf(url), did))
    }
  })

  /** Pins kept in a JSON file `{ "<address>": "<did>" }`, written with mode 0600. */
  static readonly layerFile = (path: string): Layer.Layer<KnownGateways, never, FileSystem.FileSystem | Path.Path> =>
    Layer.effect(KnownGateways, Effect.gen(function*() {
      const fs = yield* FileSystem.FileSystem
      const paths = yield* Path.Path
      const fail = (cause: { readonly message: string }) => new KnownGatewaysError({ path, reason: cause.message })
      const decode = Schema.decodeUnknownEffect(Schema.fromJsonString(Schema.Record(Schema.String, Schema.String)))
      const read = Effect.gen(function*() {
        if (!(yield* fs.exists(path))) return {} as Record<string, string>
        return yield* decode(yield* fs.readFileString(path))
      }).pipe(Effect.mapError(fail))
      // Every change reads the file again, so two processes sharing it do not undo each other's pins.
      const lock = yield* Semaphore.make(1)
      return {
        get: (url) => Effect.map(read, (pins) => Option.fromUndefinedOr(pins[addressOf(url)])),
        pin: (url, did) =>
          Semaphore.withPermit(lock)(
            Effect.gen(function*() {
              const pins = { ...(yield* read), [addressOf(url)]: did }
              const temporary = `${path}.${globalThis.crypto.randomUUID()}.tmp`
              yield* fs.makeDirectory(paths.dirname(path), { recursive: true, mode: 0o700 })
              yield* fs.writeFileString(temporary, JSON.stringify(pins, null, 2) + "\n", { mode: 0o600 })
              yield* fs.rename(temporary, path)
            }).pipe(Effect.mapError(fail)))
      }
    }))
}
