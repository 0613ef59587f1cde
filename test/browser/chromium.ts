/**
 * Debian's Chromium, driven by playwright-core, for the browser tests: a browser per test file,
 * pages that load the test harness (`harness.ts`, bundled with esbuild) or any bundle, and Node
 * agents that behave as the page's agents do (`peerBehaviour.ts`). Everything closes with its scope.
 */
import { mkdtempSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer, type Scope, Stream } from "effect"
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core"
import { Agent, type PeerSession } from "../../src/agent/Agent.ts"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"
import { bundle } from "../../scripts/browserBundle.ts"
import { echo, serveSession } from "./peerBehaviour.ts"

/** The Chromium binary (Debian's package; `.ci/run` installs it). */
export const CHROMIUM = process.env.AICONEXUS_CHROMIUM ?? "/usr/bin/chromium"

/** Flags that work for headless Chromium on loopback in a container. */
export const CHROMIUM_FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--allow-loopback-in-peer-connection",
  "--use-fake-ui-for-media-stream",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic"
]

/** Headless Chromium (playwright gives it a fresh profile directory), closed with the scope. */
export const launch: Effect.Effect<Browser, never, Scope.Scope> = Effect.acquireRelease(
  Effect.promise(() => chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS })),
  (browser) => Effect.promise(() => browser.close())
)

/** A temporary folder for a test's files (screenshots). */
export const tempDir = (prefix: string) => mkdtempSync(join(tmpdir(), `aiconexus-${prefix}-`))

let harnessCode: Promise<string> | undefined
const harnessBundle = () => (harnessCode ??= bundle(new URL("./harness.ts", import.meta.url).pathname, false).then((b) => b.code))

/**
 * An HTTP server on 127.0.0.1 serving `files` (path → [content type, body]); closed with the
 * scope. Pages come from loopback: a secure context (WebCrypto, IndexedDB), and in the same
 * address space as the gateway (Chromium's local-network-access checks refuse a page from
 * elsewhere that dials 127.0.0.1).
 */
export const serveFiles = (files: ReadonlyMap<string, readonly [string, string]>) =>
  Effect.acquireRelease(
    Effect.callback<Server>((resume) => {
      const server = createServer((request, response) => {
        const file = files.get(new URL(request.url ?? "/", "http://x").pathname)
        if (file === undefined) return void response.writeHead(404).end()
        response.writeHead(200, { "content-type": file[0] }).end(file[1])
      })
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed(server)))
    }),
    (server) => Effect.callback<void>((resume) => {
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map((server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`))

/** The origin of pages that are not on this machine (playwright answers their requests itself). */
export const PUBLIC_ORIGIN = "https://agents.example"

/**
 * A new browser context (own storage) with a page that loads the harness. On loopback (default)
 * Chromium shows its real host addresses in candidates; from `PUBLIC_ORIGIN` (allowed to dial the
 * gateway on 127.0.0.1) it hides them behind mDNS names, as for any page on the internet.
 */
export const harnessPage = (
  browser: Browser,
  options: { readonly from?: "loopback" | "public" } = {}
): Effect.Effect<{ readonly page: Page; readonly context: BrowserContext; readonly origin: string }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const code = yield* Effect.promise(harnessBundle)
    const files = new Map<string, readonly [string, string]>([
      ["/", ["text/html", `<!doctype html><title>harness</title><script type="module" src="/harness.js"></script>`]],
      ["/harness.js", ["text/javascript", code]]
    ])
    const fromPublic = options.from === "public"
    const origin = fromPublic ? PUBLIC_ORIGIN : yield* serveFiles(files)
    const context = yield* Effect.acquireRelease(
      Effect.promise(() => browser.newContext(fromPublic ? { permissions: ["local-network-access"] } : {})),
      (context) => Effect.promise(() => context.close())
    )
    if (fromPublic) {
      yield* Effect.promise(() =>
        context.route(`${PUBLIC_ORIGIN}/**`, (route) => {
          const [type, body] = files.get(new URL(route.request().url()).pathname) ?? ["text/plain", ""]
          return route.fulfill({ body, contentType: type })
        }))
    }
    const page = yield* Effect.promise(() => context.newPage())
    if (process.env.AICONEXUS_BROWSER_LOG !== undefined) page.on("console", (message) => console.log(`[page] ${message.text()}`))
    yield* load(page, origin)
    return { page, context, origin }
  })

/** Loads (or reloads) the harness page and waits for `globalThis.harness`. */
export const load = (page: Page, origin: string) =>
  Effect.promise(async () => {
    await page.goto(`${origin}/`)
    await page.waitForFunction(() => "harness" in globalThis)
  })

type Harness = typeof import("./harness.ts")["default"]

/** Calls `harness[name](...args)` in the page. */
export const call = <K extends keyof Harness>(page: Page, name: K, ...args: Parameters<Harness[K]>) =>
  Effect.promise(() =>
    page.evaluate(([name, args]) => (globalThis.harness[name] as (...a: Array<unknown>) => unknown)(...args), [name, args] as const)
  ) as Effect.Effect<Awaited<ReturnType<Harness[K]>>>

/** A Node agent on `transport` registered at `url`, behaving as the page's agents do. */
export const nodeAgent = (url: string, transport: Layer.Layer<Transport>, name = "node") =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const context = yield* Layer.build(Agent.layer({
      urls: [url],
      identity,
      name,
      serve: [echo(name)],
      candidatePolicy: CandidatePolicy.allowAll
    }).pipe(Layer.provide(Layer.mergeAll(transport, KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))))
    const agent = Context.get(context, Agent)
    yield* Context.get(context, GatewayClient).session
    const sessions = new Map<string, PeerSession>()
    const intents: Array<unknown> = []
    yield* Effect.forkScoped(Stream.runForEach(agent.sessions, (session) =>
      Effect.andThen(Effect.sync(() => sessions.set(session.remote, session)), serveSession(session, intents))))
    return { agent, sessions, intents }
  })
