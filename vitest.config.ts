import { existsSync } from "node:fs"
import { dirname, resolve } from "node:path"
import { playwright } from "@vitest/browser-playwright"
import type { Plugin } from "vite"
import { defineConfig } from "vitest/config"
import type { BrowserCommand } from "vitest/node"

/**
 * Test files of the browser-safe core that need nothing from Node: they run in Node and again in
 * Chromium (Debian's `chromium`, no browser download), so "browser-safe" is checked, not assumed.
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
 * The test files of src/client, run in Node and again in Chromium: there the client runs in the
 * browser (over its WebSocket) and what it connects to runs in Node. The tests reach gateways
 * through test/client/gateways.ts and FakeGateway.ts, whose `.chromium.ts` twins start the same
 * gateways, fake gateways and gateway processes in Node over the `clientTests` browser command
 * (test/client/nodeSide.ts), stopped from the test's finalizers (and at the end of the run).
 *
 * Node-only, and why:
 * - test/client/FailFast.test.ts: it asserts the reason a connection failed (ECONNREFUSED, an
 *   HTTP 404 instead of the upgrade) as the `ws`-based NodeWebSocket reports it; a browser's
 *   WebSocket does not tell a page why it failed (by design), so there is nothing to assert there.
 */
export const clientSuites = [
  "test/client/ClientState.test.ts",
  "test/client/GatewayClient.test.ts",
  "test/client/Signaling.test.ts",
  "test/client/Resilience.test.ts"
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
const testFolder = here("./test/")

/**
 * A test helper `name.ts` with a `name.chromium.ts` beside it: in the chromium project, imports of
 * the first (from test files) load the second, the same interface over what the browser has.
 */
const chromiumTwins: Plugin = {
  name: "aiconexus:chromium-twins",
  enforce: "pre",
  resolveId(source, importer) {
    if (importer === undefined || !source.startsWith(".") || !source.endsWith(".ts")) return null
    const from = importer.split("?")[0]!
    if (!from.startsWith(testFolder)) return null
    const twin = resolve(dirname(from), source.replace(/\.ts$/, ".chromium.ts"))
    return existsSync(twin) ? twin : null
  }
}

/**
 * The browser command behind test/client/fromBrowser.ts: runs `api[name](...args)` of
 * test/client/nodeSide.ts in Node. Node loads that module itself (not bundled with this config).
 */
type NodeSide = typeof import("./test/client/nodeSide.ts")
const clientTests: BrowserCommand<[name: keyof NodeSide["api"], ...args: Array<unknown>]> = async (_context, name, ...args) => {
  const { api } = await (import(new URL("./test/client/nodeSide.ts", import.meta.url).href) as Promise<NodeSide>)
  return (api[name] as (...args: Array<unknown>) => unknown)(...args)
}

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
        plugins: [chromiumTwins],
        test: {
          name: "chromium",
          // Added to the shared globalSetup (test/isolatedHome.ts): closes what client tests left in Node.
          globalSetup: ["test/client/nodeSideTeardown.ts"],
          include: [...browserSafeTests, ...clientSuites, ...browserStackSuites, "test/**/*.chromium.test.ts"],
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
            instances: [{ browser: "chromium" }],
            commands: { clientTests }
          }
        }
      }
    ]
  }
})
