/**
 * The README's browser example is `docs/examples/browser-agent.ts`, word for word, and it runs:
 * bundled with esbuild, served by a gateway as its page, it calls a Node agent from Chromium.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { bundle } from "../../scripts/browserBundle.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { ROOT } from "../processes.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { launch, nodeAgent, tempDir } from "./chromium.ts"

const EXAMPLE = join(ROOT, "docs/examples/browser-agent.ts")

describe("docs/examples/browser-agent.ts", () => {
  it("is the README's browser example", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("## In a browser")))?.[1]
    assert.strictEqual(block, readFileSync(EXAMPLE, "utf8"))
  })

  it.live("runs in Chromium: the tab finds the Node agent serving echo and shows its answer", () =>
    Effect.gen(function*() {
      const web = join(tempDir("example"), "web")
      mkdirSync(web)
      writeFileSync(join(web, "index.html"), `<!doctype html><title>example</title><script type="module" src="/page.js"></script>`)
      writeFileSync(join(web, "page.js"), (yield* Effect.promise(() => bundle(EXAMPLE))).code)
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig({ webDir: web }))), Gateway.Gateway)
      yield* nodeAgent(gateway.url, realTransports[0]![1])
      const page = yield* Effect.flatMap(launch, (browser) => Effect.promise(() => browser.newPage()))
      const text = yield* Effect.promise(async () => {
        await page.goto(`${gateway.httpUrl}/`)
        await page.locator("body").filter({ hasText: " got " }).waitFor({ timeout: 20_000 })
        return page.locator("body").textContent()
      })
      assert.match(text!, /^did:key:z6Mk\w+ got \{"by":"node","echoed":\{"text":"hello from a tab"\}\}$/)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
