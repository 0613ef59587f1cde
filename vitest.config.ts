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
  "test/protocol/Sdp.test.ts",
  "test/protocol/SdpSyntax.test.ts",
  "test/protocol/IceCandidate.test.ts",
  "test/protocol/DataChannelConfig.test.ts"
]

/**
 * The behavioural suites of the WebRTC stacks that need no Node process, run in Chromium on the
 * browser's stack (`test/webrtc/transports.chromium.ts` replaces `transports.ts` there).
 */
export const browserStackSuites = [
  "test/webrtc/link/Connect.test.ts",
  "test/webrtc/link/Channels.test.ts",
  "test/webrtc/peer/PeerConnectionApi.test.ts",
  "test/webrtc/peer/Operations.test.ts"
]

const here = (path: string) => new URL(path, import.meta.url).pathname

export default defineConfig({
  test: {
    // A temporary HOME for the whole run (and the processes it starts): see test/isolatedHome.ts.
    globalSetup: ["test/isolatedHome.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    projects: [
      { extends: true, test: { name: "node", include: ["test/**/*.test.ts"], exclude: ["test/**/*.chromium.test.ts"] } },
      {
        extends: true,
        resolve: {
          alias: [
            { find: /^\.\/transports\.ts$/, replacement: here("./test/webrtc/transports.chromium.ts") },
            { find: /^\.\.\/client\/fixtures\.ts$/, replacement: here("./test/client/fixtures.chromium.ts") }
          ]
        },
        test: {
          name: "chromium",
          include: [...browserSafeTests, ...browserStackSuites, "test/**/*.chromium.test.ts"],
          browser: {
            enabled: true,
            headless: true,
            screenshotFailures: false,
            provider: playwright({
              launchOptions: {
                executablePath: process.env.AICONEXUS_CHROMIUM ?? "/usr/bin/chromium",
                args: ["--no-sandbox", "--disable-gpu", "--allow-loopback-in-peer-connection", "--use-fake-ui-for-media-stream", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
              }
            }),
            instances: [{ browser: "chromium" }]
          }
        }
      }
    ]
  }
})
