import { request } from "node:http"
import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

/** A raw upgrade request: the HTTP status it is answered with (101 when the socket is upgraded). */
const upgrade = (url: string, headers: Record<string, string>) =>
  Effect.callback<number>((resume) => {
    const req = request(url.replace(/^ws/, "http"), { headers: { connection: "Upgrade", upgrade: "websocket", ...headers } })
    req.on("upgrade", (response, socket) => {
      socket.destroy()
      resume(Effect.succeed(response.statusCode ?? 0))
    })
    req.on("response", (response) => {
      response.resume()
      resume(Effect.succeed(response.statusCode ?? 0))
    })
    req.on("error", () => resume(Effect.succeed(0)))
    req.end()
  })

layer(Gateway.layerMemory(testConfig({ maxSessions: 1 })), { excludeTestServices: true })("gateway upgrades", (it) => {
  it.effect("answers upgrades elsewhere than /ws with 404, and a failed WebSocket handshake does not keep its admission", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const headers = { "sec-websocket-version": "13", "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==", "sec-websocket-protocol": "ioap.v1" }
      assert.strictEqual(yield* upgrade(gateway.url.replace(/\/ws$/, "/other"), headers), 404)
      // Admitted, then refused by the WebSocket handshake itself (no key): the slot is freed.
      const { "sec-websocket-key": _, ...withoutKey } = headers
      assert.strictEqual(yield* upgrade(gateway.url, withoutKey), 400)
      yield* Effect.sleep("50 millis")
      // The only slot is free: a real client gets in, and holds it.
      yield* RawClient.connect(gateway.url)
      assert.strictEqual(yield* upgrade(gateway.url, headers), 503)
    }))
})
