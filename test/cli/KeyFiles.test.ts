/**
 * Where the CLI keeps private keys by default: the platform's user data folder (here a temporary
 * HOME with XDG_DATA_HOME), never the working directory; and a warning before a key file is
 * created inside a git work tree.
 */
import { existsSync, mkdirSync, readdirSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { background, CLI, line, ROOT, runNode, temporaryFolder } from "../processes.ts"

// Absolute: these run from other folders.
const MAIN = CLI.map((arg) => join(ROOT, arg))

const temporary = temporaryFolder

/** A HOME of its own, with the XDG data folder inside it. */
const home = () => {
  const folder = temporary("home")
  return { folder, env: { HOME: folder, XDG_DATA_HOME: join(folder, "data") } }
}

describe("key files", () => {
  it.live("keygen and the gateway keep their keys in the user data folder, whatever the working directory", () =>
    Effect.gen(function*() {
      const { env, folder } = home()
      const [here, there] = [temporary("cwd"), temporary("cwd")]
      const first = yield* runNode([...MAIN, "keygen"], { cwd: here, env })
      const second = yield* runNode([...MAIN, "keygen"], { cwd: there, env })
      assert.strictEqual(first.code, 0, first.output)
      assert.match(first.output.trim(), /^did:key:z6Mk\w+$/)
      assert.strictEqual(second.output.trim(), first.output.trim())
      assert.isTrue(existsSync(join(folder, "data", "aiconexus", "identity.json")))

      // The gateway started from two folders is the same gateway (same DID).
      const dids: Array<string> = []
      for (const cwd of [here, there]) {
        yield* Effect.scoped(Effect.gen(function*() {
          const gateway = yield* background([...MAIN, "gateway", "--port", "0"], env, cwd)
          dids.push((yield* line(gateway.lines, /gateway DID: (\S+)/))[1]!)
        }))
      }
      assert.strictEqual(dids[0], dids[1])
      assert.isTrue(existsSync(join(folder, "data", "aiconexus", "gateway", "gateway-identity.json")))
      assert.deepStrictEqual([...readdirSync(here), ...readdirSync(there)], [])

      // AICONEXUS_IDENTITY and AICONEXUS_HOME move them.
      const moved = join(temporary("elsewhere"), "me.json")
      const custom = yield* runNode([...MAIN, "keygen"], { cwd: here, env: { ...env, AICONEXUS_IDENTITY: moved } })
      assert.strictEqual(custom.code, 0, custom.output)
      assert.notStrictEqual(custom.output.trim(), first.output.trim())
      assert.isTrue(existsSync(moved))
    }), { timeout: 60_000 })

  it.live("creating a key file inside a git work tree warns; outside it does not", () =>
    Effect.gen(function*() {
      const { env } = home()
      const repository = temporary("repo")
      mkdirSync(join(repository, ".git"))
      const inside = yield* runNode([...MAIN, "keygen", "--out", "keys/me.json"], { cwd: repository, env })
      assert.strictEqual(inside.code, 0, inside.output)
      assert.include(inside.output, `warning: creating a private key at keys/me.json, inside the git work tree ${repository}`)
      // Only when it is created: loading it again is silent.
      const again = yield* runNode([...MAIN, "keygen", "--out", "keys/me.json"], { cwd: repository, env })
      assert.notInclude(again.output, "warning")
      const outside = yield* runNode([...MAIN, "keygen", "--out", join(temporary("plain"), "me.json")], { cwd: repository, env })
      assert.notInclude(outside.output, "warning")
      const gateway = yield* background([...MAIN, "gateway", "--port", "0", "--data-dir", "gw"], env, repository)
      yield* line(gateway.lines, new RegExp(`^warning: creating a private key at gw/gateway-identity.json, inside the git work tree ${repository};`))
      yield* line(gateway.lines, /listening on /)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
