/**
 * Identity files: an identity saved as JSON, readable by its owner only.
 *
 * Uses Effect's `FileSystem` and `Path` services, so this module imports no Node API; a Node
 * program provides them with `NodeServices.layer`.
 *
 * @since 0.1.0
 */
import { base64urlnopad } from "@scure/base"
import { Effect, FileSystem, Path, Redacted, Schema } from "effect"
import * as Did from "./Did.ts"
import * as Identity from "./Identity.ts"

/** An identity file could not be read, written or trusted. */
export class IdentityFileError extends Schema.TaggedError<IdentityFileError>()("IdentityFileError", {
  path: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `identity file ${this.path}: ${this.reason}`
  }
}

/** The JSON form of an identity file. */
export const IdentityFileContent = Schema.Struct({
  version: Schema.Literal(1),
  did: Did.Did,
  seed: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$/))
})

const decodeContent = Schema.decodeUnknownEffect(Schema.fromJsonString(IdentityFileContent), {
  onExcessProperty: "error"
})

// Group and other permission bits: any of them set means someone else may read the key.
const FOREIGN_ACCESS = 0o077

/** Saves an identity with mode 0600 (written to a temporary file first, then renamed into place). */
export const save = (path: string, identity: Identity.SeedIdentity) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const paths = yield* Path.Path
    const content = {
      version: 1,
      did: identity.did,
      seed: base64urlnopad.encode(Redacted.value(identity.seed))
    }
    yield* fs.makeDirectory(paths.dirname(path), { recursive: true, mode: 0o700 })
    const temporary = `${path}.${globalThis.crypto.randomUUID()}.tmp`
    yield* fs.writeFileString(temporary, JSON.stringify(content, null, 2) + "\n", { flag: "wx", mode: 0o600 })
    yield* fs.rename(temporary, path).pipe(Effect.onError(() => Effect.ignore(fs.remove(temporary))))
  }).pipe(Effect.mapError((cause) => new IdentityFileError({ path, reason: cause.message })))

/** Loads an identity, refusing a file that group or others may access or whose DID does not match its key. */
export const load = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const fail = (reason: string) => Effect.fail(new IdentityFileError({ path, reason }))
    const info = yield* fs.stat(path)
    if ((info.mode & FOREIGN_ACCESS) !== 0) {
      return yield* fail(
        `permissions ${(info.mode & 0o777).toString(8)} let others read the private key; run chmod 600 on it`
      )
    }
    const text = yield* fs.readFileString(path)
    const content = yield* decodeContent(text).pipe(
      Effect.catch(() => fail("not an identity file (expected {version: 1, did, seed})"))
    )
    const identity = yield* Identity.fromSeed(base64urlnopad.decode(content.seed))
    if (identity.did !== content.did) return yield* fail("the DID does not belong to the key in the file")
    return identity
  }).pipe(
    Effect.catchTags({
      PlatformError: (cause) => Effect.fail(new IdentityFileError({ path, reason: cause.message })),
      CryptoError: (cause) => Effect.fail(new IdentityFileError({ path, reason: cause.message }))
    })
  )

/** Loads the identity at `path`, creating and saving a new one when the file does not exist. */
export const loadOrCreate = (path: string) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const exists = yield* fs.exists(path).pipe(
      Effect.mapError((cause) => new IdentityFileError({ path, reason: cause.message }))
    )
    if (exists) return yield* load(path)
    const identity = yield* Identity.generate.pipe(
      Effect.mapError((cause) => new IdentityFileError({ path, reason: cause.message }))
    )
    yield* save(path, identity)
    return identity
  })
