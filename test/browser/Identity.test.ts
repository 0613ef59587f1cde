/**
 * Identity in the browser: a non-extractable WebCrypto Ed25519 key in IndexedDB whose DID survives
 * a reload, and the gateway DID pinned on first use, kept the same way (an impostor at the same
 * address is refused after a reload).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { call, harnessPage, launch, load } from "./chromium.ts"

/** A gateway in its own scope, so the test can stop it. */
const gatewayOn = (port: number) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const gateway = Context.get(yield* Layer.buildWithScope(Gateway.layerMemory(testConfig({ port })), scope), Gateway.Gateway)
    return { gateway, stop: Scope.close(scope, Exit.void) }
  })

describe("identity in the browser", () => {
  it.live("the DID and the pinned gateway survive a reload; the key cannot be exported; an impostor gateway is refused", () =>
    Effect.gen(function*() {
      const first = yield* gatewayOn(0)
      const port = Number(new URL(first.gateway.url).port)
      const { origin, page } = yield* harnessPage(yield* launch)
      const database = "persistent"

      const did = yield* call(page, "start", "a", { url: first.gateway.url, database })
      assert.match(did, /^did:key:z6Mk/)
      assert.deepStrictEqual(yield* call(page, "storedKey", database), { algorithm: "Ed25519", extractable: false, usages: ["sign"], exported: false })
      assert.strictEqual(yield* call(page, "pinned", database, first.gateway.url), first.gateway.did)

      yield* load(page, origin)
      assert.strictEqual(yield* call(page, "start", "a", { url: first.gateway.url, database }), did, "same DID after a reload")
      // Another database is another identity.
      assert.notStrictEqual(yield* call(page, "start", "b", { url: first.gateway.url, database: "other" }), did)

      // Another gateway (another DID) at the same address: refused, by the pin read back after a reload.
      yield* first.stop
      const impostor = yield* gatewayOn(port)
      assert.notStrictEqual(impostor.gateway.did, first.gateway.did)
      yield* load(page, origin)
      assert.strictEqual(yield* call(page, "pinned", database, first.gateway.url), first.gateway.did)
      const refused = yield* Effect.promise(() =>
        page.evaluate(([url, database]) => globalThis.harness.start("a", { url, database }).then(() => "registered", (error: unknown) => String(error)), [impostor.gateway.url, database] as const))
      assert.include(refused, "GatewayIdentityMismatch")
      yield* impostor.stop
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("two tabs of one origin making the identity at the same moment end with the same one", () =>
    Effect.gen(function*() {
      const { context, page } = yield* harnessPage(yield* launch)
      const other = yield* Effect.promise(() => context.newPage())
      yield* Effect.promise(() => other.goto(page.url()))
      yield* Effect.promise(() => other.waitForFunction(() => "harness" in globalThis))
      const [first, second] = yield* Effect.all([call(page, "identity", "shared"), call(other, "identity", "shared")], { concurrency: 2 })
      assert.match(first, /^did:key:z6Mk/)
      assert.strictEqual(second, first)
      assert.strictEqual(yield* call(other, "identity", "shared"), first)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
