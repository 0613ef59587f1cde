/**
 * The DID binding in the browser: a relay between the page and the gateway that rewrites the
 * certificate fingerprint in the page's OFFER. The OFFER's signature no longer holds and no
 * connection opens (Chromium would also refuse a DTLS certificate other than the SDP's).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { SUBPROTOCOL } from "../../src/protocol/GatewaySocket.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { call, harnessPage, launch, nodeAgent } from "./chromium.ts"

const otherFingerprint = "a=fingerprint:sha-256 " + Array.from({ length: 32 }, () => "AB").join(":")

/** A WebSocket relay to `target` that rewrites the fingerprint of every OFFER passing from the page. */
const tamperingRelay = (target: string) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly server: WebSocketServer; readonly rewritten: { count: number } }>((resume) => {
      const rewritten = { count: 0 }
      const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: (protocols) => protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false })
      server.on("connection", (page, request) => {
        // A transparent relay: the gateway sees the Host the page dialled (its endpoint check holds).
        const upstream = new WebSocket(target, [SUBPROTOCOL], { headers: { host: request.headers.host ?? "" } })
        const early: Array<string> = []
        upstream.on("open", () => early.splice(0).forEach((frame) => upstream.send(frame)))
        upstream.on("message", (data) => page.send(data.toString()))
        upstream.on("close", () => page.close())
        page.on("close", () => upstream.close())
        page.on("message", (data) => {
          let frame = data.toString()
          if (frame.includes(`"type":"OFFER"`)) {
            frame = frame.replace(/a=fingerprint:sha-256 [0-9A-Fa-f:]+/, otherFingerprint)
            rewritten.count++
          }
          if (upstream.readyState === WebSocket.OPEN) upstream.send(frame)
          else early.push(frame)
        })
      })
      server.on("listening", () => resume(Effect.succeed({ server, rewritten })))
    }),
    ({ server }) => Effect.callback<void>((resume) => {
      for (const client of server.clients) client.terminate()
      server.close(() => resume(Effect.void))
    })
  ).pipe(Effect.map(({ rewritten, server }) => ({ url: `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`, rewritten })))

describe("a tampering relay in Chromium", () => {
  it.live.each([
    ["the gateway", true, "INVALID_SIGNATURE"],
    ["the Node agent (the gateway does not check relayed signatures)", false, "ConnectTimeout"]
  ] as const)("rewrites the fingerprint in the browser's OFFER: no connection opens, refused by %s", ([, verifyRelaySignatures, outcomeHas]) =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig({ verifyRelaySignatures }))), Gateway.Gateway)
      const relay = yield* tamperingRelay(gateway.url)
      const node = yield* nodeAgent(gateway.url, realTransports[0]![1])
      const { page } = yield* harnessPage(yield* launch)
      yield* call(page, "start", "a", { url: relay.url, connectTimeoutMs: 1_500 })
      // Everything else passes the relay: the page registers and discovers through it.
      assert.include(yield* call(page, "discover", "a", "echo"), node.agent.did)
      const outcome = yield* Effect.promise(() =>
        page.evaluate((did) => globalThis.harness.connect("a", did).then(() => "connected", (error: unknown) => String(error)), node.agent.did))
      assert.include(outcome, outcomeHas)
      assert.isAtLeast(relay.rewritten.count, 1)
      assert.strictEqual(node.sessions.size, 0, "the Node agent accepted no session")
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
