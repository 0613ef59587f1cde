/**
 * `failFast` (one-shot uses): the first attempt at every URL failing before any registration
 * stops the client with `GatewayUnreachable`, the URL and the cause. Over the `ws`-based
 * `NodeWebSocket`, whose errors say why: Node-only (a browser's WebSocket does not say why it
 * failed). That a registered failFast client still retries a lost gateway is in Resilience.test.ts,
 * which also runs in Chromium.
 */
import { createServer } from "node:http"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import { GatewayClient, GatewayUnreachable } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as NodeWebSocket from "../../src/client/NodeWebSocket.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { freePort } from "../gateway/fixtures.ts"

const client = (urls: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const context = yield* Layer.build(
      GatewayClient.layer({ urls, identity: yield* Identity.generate, failFast: true, reconnect: Schedule.spaced("20 millis") }).pipe(
        Layer.provide(Layer.mergeAll(KnownGateways.layerMemory, NodeWebSocket.layerWebSocketConstructor))
      )
    )
    return Context.get(context, GatewayClient)
  })

describe("GatewayClient failFast", () => {
  it.live("stops with GatewayUnreachable after one attempt per URL: the last URL and its cause", () =>
    Effect.gen(function*() {
      const closed = yield* freePort
      const server = createServer((_, response) => response.writeHead(404).end())
      yield* Effect.acquireRelease(
        Effect.callback<void>((resume) => void server.listen(0, "127.0.0.1", () => resume(Effect.void))),
        () => Effect.sync(() => server.close())
      )
      const notFound = `ws://127.0.0.1:${(server.address() as { port: number }).port}/ws`

      const refused = yield* client([`ws://127.0.0.1:${closed}/ws`])
      const error = yield* Effect.flip(refused.session)
      assert.instanceOf(error, GatewayUnreachable)
      assert.strictEqual(error.message, `cannot reach the gateway at ws://127.0.0.1:${closed}/ws: connection refused (connect ECONNREFUSED 127.0.0.1:${closed})`)

      // Both URLs are tried; the error names the last.
      const both = yield* client([`ws://127.0.0.1:${closed}/ws`, notFound])
      const last = yield* Effect.flip(both.session)
      assert.strictEqual(last.message, `cannot reach the gateway at ${notFound}: HTTP 404 instead of a WebSocket upgrade (Unexpected server response: 404)`)
      // What waited to be sent fails with the same reason.
      assert.instanceOf(yield* Effect.flip(both.discover({})), GatewayUnreachable)
    }).pipe(Effect.scoped))
})
