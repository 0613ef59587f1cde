import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { background, CLI, line, startNodeFlags } from "../processes.ts"
import { startProcess, testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

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

  it.live("npm start caps V8's young generation; the CLI gateway says so when node runs without the cap", () =>
    Effect.gen(function*() {
      const nodeFlags = startNodeFlags()
      assert.isTrue(nodeFlags.some((flag) => /^--max-semi-space-size=\d+$/.test(flag)), nodeFlags.join(" "))
      const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-cli-"))
      const run = (flags: ReadonlyArray<string>) =>
        Effect.gen(function*() {
          const gateway = yield* background([...flags, ...CLI, "gateway", "--port", "0", "--data-dir", dataDir], { NODE_OPTIONS: "" })
          // The note comes before the "listening" line, so by then it is there or never will be.
          yield* line(gateway.lines, /listening on/)
          return gateway.lines.filter((l) => l.startsWith("note:"))
        }).pipe(Effect.scoped)
      assert.deepStrictEqual(yield* run(nodeFlags), [])
      const notes = yield* run([])
      assert.strictEqual(notes.length, 1)
      assert.include(notes[0]!, "--max-semi-space-size")
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
