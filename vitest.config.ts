import { playwright } from "@vitest/browser-playwright"
import { defineConfig } from "vitest/config"

/**
 * Test files of the browser-safe core that need nothing from Node: they run in Node and again in
 * Chromium (Debian's `chromium`, no browser download), so "browser-safe" is checked, not assumed.
 * The test files of src/client need a gateway, a Node process; the client runs in Chromium in
 * test/browser (register, discover, signaling, pins).
 */
export const browserSafeTests = [
  "test/protocol/Canonical.test.ts",
  "test/protocol/Did.test.ts",
  "test/protocol/Envelope.test.ts",
  "test/protocol/IJson.test.ts",
  "test/protocol/ReplayGuard.test.ts",
  "test/protocol/WebRtc.test.ts"
]

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: "node", include: ["test/**/*.test.ts"], exclude: ["test/**/*.chromium.test.ts"] } },
      {
        extends: true,
        test: {
          name: "chromium",
          include: [...browserSafeTests, "test/**/*.chromium.test.ts"],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.AICONEXUS_CHROMIUM ?? "/usr/bin/chromium",
                args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
              }
            }),
            instances: [{ browser: "chromium" }]
          }
        }
      }
    ]
  }
})
