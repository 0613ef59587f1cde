/**
 * The page `aiconexus gateway --web` serves, built from the bundle, used in Chromium as a person
 * would: the tab shows its DID, finds a Node agent, connects (state, set-up time and RTT on screen),
 * sends a message, calls a capability and shows the answer. A screenshot is saved in the test's
 * temporary folder.
 */
import { existsSync, statSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { buildPage } from "../../scripts/browserBundle.ts"
import { CLI, background, line, runCli } from "../processes.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { launch, nodeAgent, tempDir } from "./chromium.ts"

describe("the browser page of aiconexus gateway --web", () => {
  it.live("a person connects the tab to a Node agent, sends a message, calls a capability and reads the answer", () =>
    Effect.gen(function*() {
      const folder = tempDir("page")
      const web = yield* Effect.promise(() => buildPage(join(folder, "web")))
      const gateway = yield* background([...CLI, "gateway", "--port", "0", "--data-dir", join(folder, "gateway"), "--web-dir", web], { AICONEXUS_LOG_LEVEL: "Warn" })
      const wsUrl = (yield* line(gateway.lines, /listening on (\S+)/))[1]!
      const pageUrl = (yield* line(gateway.lines, /browser page: (\S+)/))[1]!
      const node = yield* nodeAgent(wsUrl, realTransports[0]![1], "node agent")

      const browser = yield* launch
      const page = yield* Effect.promise(() => browser.newPage())
      yield* Effect.promise(async () => {
        await page.goto(pageUrl)
        await page.getByTestId("did").filter({ hasText: /^did:key:z6Mk/ }).waitFor({ timeout: 15_000 })
        await page.getByTestId("gateway-state").filter({ hasText: "registered" }).waitFor({ timeout: 15_000 })
      })
      const did = yield* Effect.promise(() => page.getByTestId("did").textContent())

      // The Node agent is listed (the page discovers every few seconds; a click asks now).
      const row = page.locator(`tr[data-did="${node.agent.did}"]`)
      yield* Effect.promise(async () => {
        await page.getByTestId("refresh").click()
        await row.waitFor({ timeout: 15_000 })
        assert.include(await row.textContent(), "echo")
        await row.getByTestId("connect").click()
        await row.getByTestId("state").filter({ hasText: /^connected \(set up in \d+ ms/ }).waitFor({ timeout: 20_000 })
      })
      // The Node agent takes the session once its side is open too (moments later).
      for (let i = 0; i < 100 && !node.sessions.has(did!); i++) yield* Effect.sleep("50 millis")
      assert.isTrue(node.sessions.has(did!), "the Node agent has a session with the tab's DID")

      yield* Effect.promise(async () => {
        await page.getByTestId("message").fill("hello from the page")
        await page.getByTestId("send").click()
        await page.getByTestId("capability").selectOption("echo")
        await page.getByTestId("args").fill(`{"question": "what is 6 x 7?"}`)
        await page.getByTestId("call").click()
        await page.getByTestId("answer").filter({ hasText: "node agent" }).waitFor({ timeout: 15_000 })
      })
      const answer = JSON.parse((yield* Effect.promise(() => page.getByTestId("answer").textContent()))!)
      assert.deepStrictEqual(answer, { by: "node agent", echoed: { question: "what is 6 x 7?" } })
      for (let i = 0; i < 100 && node.intents.length === 0; i++) yield* Effect.sleep("50 millis")
      assert.deepStrictEqual(node.intents, [{ query: "hello from the page" }])

      // The page measures its sessions every few seconds: the round-trip time appears on the row.
      yield* Effect.promise(() => row.getByTestId("state").filter({ hasText: /^connected \(set up in \d+ ms, rtt \d+\.\d ms\)$/ }).waitFor({ timeout: 15_000 }))

      const screenshot = join(folder, "page.png")
      yield* Effect.promise(() => page.screenshot({ path: screenshot, fullPage: true }))
      assert.isTrue(existsSync(screenshot) && statSync(screenshot).size > 1000)
    }).pipe(Effect.scoped), { timeout: 90_000 })

  it.live("without a built page, --web says how to build it and exits 1", () =>
    Effect.gen(function*() {
      const folder = tempDir("no-page")
      const { code, output } = yield* runCli(["gateway", "--port", "0", "--data-dir", join(folder, "gateway"), "--web-dir", join(folder, "missing")])
      assert.strictEqual(code, 1)
      assert.include(output, `error: invalid gateway configuration: no browser page in ${join(folder, "missing")} (build it with npm run build:web)`)
    }), { timeout: 30_000 })
})
