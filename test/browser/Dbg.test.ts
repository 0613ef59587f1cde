import { it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "../../test/gateway/fixtures.ts"
import { call, harnessPage, launch } from "./chromium.ts"
it.live("dbg", () => Effect.gen(function*() {
  const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
  const { page } = yield* harnessPage(yield* launch)
  page.on("console", (m) => console.log("[page]", m.text()))
  page.on("pageerror", (e) => console.log("[pageerror]", e))
  const did = yield* call(page, "start", "a", { url: gateway.url })
  console.log("did", did)
  yield* Effect.sleep("2 seconds")
  console.log(yield* Effect.promise(() => page.evaluate(async () => { try { return await globalThis.harness.discover("a", "echo") } catch (e) { return String(e) } })))
}).pipe(Effect.scoped), { timeout: 60000 })
