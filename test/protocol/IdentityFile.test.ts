import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, FileSystem, Path } from "effect"
import * as IdentityFile from "../../src/protocol/IdentityFile.ts"

const withTempDir = <A, E, R>(f: (dir: string, fs: FileSystem.FileSystem, path: Path.Path) => Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    const fs = yield* FileSystem.FileSystem
    const path = yield* Path.Path
    const dir = yield* fs.makeTempDirectoryScoped()
    return yield* f(dir, fs, path)
  }).pipe(Effect.provide(NodeServices.layer))

describe("IdentityFile", () => {
  it.effect("creates an identity with mode 0600 on first use and loads the same one after", () =>
    withTempDir((dir, fs, path) =>
      Effect.gen(function*() {
        const file = path.join(dir, "keys", "agent.json")
        const created = yield* IdentityFile.loadOrCreate(file)
        const info = yield* fs.stat(file)
        assert.strictEqual(info.mode & 0o777, 0o600)
        const loaded = yield* IdentityFile.loadOrCreate(file)
        assert.strictEqual(loaded.did, created.did)
        assert.deepStrictEqual(loaded.publicKey, created.publicKey)
        const text = yield* fs.readFileString(file)
        assert.include(text, created.did)
        // No leftover temporary files beside it.
        assert.deepStrictEqual(yield* fs.readDirectory(path.join(dir, "keys")), ["agent.json"])
      })
    ))

  it.effect("refuses a key file that group or others can read, with a clear error", () =>
    withTempDir((dir, fs, path) =>
      Effect.gen(function*() {
        const file = path.join(dir, "agent.json")
        yield* IdentityFile.loadOrCreate(file)
        yield* fs.chmod(file, 0o644)
        const error = yield* Effect.flip(IdentityFile.load(file))
        assert.strictEqual(error._tag, "IdentityFileError")
        assert.include(error.message, "chmod 600")
        assert.include(error.message, "644")
      })
    ))

  it.effect("refuses a file whose DID does not match its key, and a file that is not an identity", () =>
    withTempDir((dir, fs, path) =>
      Effect.gen(function*() {
        const a = path.join(dir, "a.json")
        const b = path.join(dir, "b.json")
        yield* IdentityFile.loadOrCreate(a)
        const other = yield* IdentityFile.loadOrCreate(b)
        const content = JSON.parse(yield* fs.readFileString(a))
        yield* fs.writeFileString(a, JSON.stringify({ ...content, did: other.did }), { mode: 0o600 })
        assert.include((yield* Effect.flip(IdentityFile.load(a))).reason, "does not belong")
        yield* fs.writeFileString(b, "{\"hello\":1}", { mode: 0o600 })
        assert.include((yield* Effect.flip(IdentityFile.load(b))).reason, "not an identity file")
        const missing = yield* Effect.flip(IdentityFile.load(path.join(dir, "missing.json")))
        assert.strictEqual(missing._tag, "IdentityFileError")
      })
    ))
})
