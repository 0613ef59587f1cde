import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Exit, Layer, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const ROOT = new URL("../..", import.meta.url).pathname

interface GatewayProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly did: string
  readonly exited: Effect.Effect<number | null>
}

/** `aiconexus gateway` as a separate process on a free port; killed when the scope closes. */
const startProcess = (dataDir: string) =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, ["src/cli/main.ts", "gateway", "--port", "0", "--data-dir", dataDir], {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, AICONEXUS_LOG_LEVEL: "Warn" }
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    child.on("exit", (code) => Deferred.doneUnsafe(exited, Effect.succeed(code)))
    const banner = yield* Effect.callback<{ url: string; did: string }, Error>((resume) => {
      let output = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        const url = /listening on (\S+)/.exec(output)?.[1]
        const did = /gateway DID: (\S+)/.exec(output)?.[1]
        if (url !== undefined && did !== undefined) resume(Effect.succeed({ url, did }))
      })
      child.on("exit", (code) => resume(Effect.fail(new Error(`gateway exited with ${code}: ${output}`))))
    }).pipe(Effect.timeout("20 seconds"))
    return { child, ...banner, exited: Deferred.await(exited) } satisfies GatewayProcess
  })

describe("gateway lifecycle", () => {
  it.live("the CLI gateway keeps its identity across restarts and on SIGTERM closes sessions with 1001 and exits 0", () =>
    Effect.gen(function*() {
      const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-cli-"))
      const first = yield* startProcess(dataDir)
      assert.match(first.url, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/)
      const agent = yield* Identity.generate
      const client = yield* RawClient.connect(first.url)
      const { answer } = yield* RawClient.register(client, agent, first.did, first.url)
      assert.strictEqual(answer.type, "REGISTERED")
      first.child.kill("SIGTERM")
      assert.strictEqual((yield* client.closed).code, 1001)
      assert.strictEqual(yield* first.exited, 0)

      const second = yield* startProcess(dataDir)
      assert.strictEqual(second.did, first.did)
      second.child.kill("SIGINT")
      assert.strictEqual(yield* second.exited, 0)
    }), { timeout: 60_000 })

  it.live("closing the gateway's scope closes its sessions with 1001 (going away)", () =>
    Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(Gateway.layerMemory(testConfig()), scope)
      const { url, did } = Context.get(context, Gateway.Gateway)
      const client = yield* RawClient.connect(url)
      yield* RawClient.register(client, yield* Identity.generate, did, url)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual((yield* client.closed).code, 1001)
    }))
})
