/**
 * The gateway's `ws` server hands over one frame of a socket per turn of the event loop
 * (`WebSocketServer.serverOptions`): a burst that arrives in one TCP read is not unmasked,
 * checked and handled in one callback, ahead of other sockets' frames. A `ws` server with the
 * gateway's options on loopback; a client writes 20 frames in one write.
 */
import { assert, it } from "@effect/vitest"
import { createServer } from "node:http"
import type { Socket } from "node:net"
import { Effect } from "effect"
import { WebSocket, WebSocketServer } from "ws"
import { SUBPROTOCOL } from "../../src/protocol/GatewaySocket.ts"
import * as GatewayWs from "../../src/gateway/WebSocketServer.ts"
import { testConfig } from "./fixtures.ts"

const FRAMES = 20

/** The upgraded connections (the gateway's options keep no set of clients), destroyed at the end. */
const sockets = new Set<{ destroy: () => void }>()

/** How many of `FRAMES` frames sent in one write the server got within the callback of an earlier one. */
const framesInOneCallback = Effect.acquireUseRelease(
  Effect.callback<{ server: ReturnType<typeof createServer>; wss: WebSocketServer; port: number }>((resume) => {
    const wss = new WebSocketServer(GatewayWs.serverOptions(testConfig()))
    const server = createServer()
    server.on("upgrade", (request, socket, head) => {
      sockets.add(socket)
      wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws))
    })
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({ server, wss, port: typeof address === "object" && address !== null ? address.port : 0 }))
    })
  }),
  ({ port, wss }) =>
    Effect.callback<{ received: number; sameCallback: number }>((resume) => {
      let received = 0
      let sameCallback = 0
      // Set while one callback runs: microtasks run only once it returns.
      let inCallback = false
      wss.on("connection", (ws) => {
        ws.on("message", () => {
          received++
          if (inCallback) sameCallback++
          inCallback = true
          queueMicrotask(() => void (inCallback = false))
          if (received === FRAMES) resume(Effect.succeed({ received, sameCallback }))
        })
      })
      const client = new WebSocket(`ws://127.0.0.1:${port}/ws`, SUBPROTOCOL)
      client.on("error", () => undefined)
      sockets.add({ destroy: () => client.terminate() })
      client.on("open", () => {
        // Every frame in one write, so that they arrive in one read.
        const socket = (client as unknown as { _socket: Socket })._socket
        socket.cork()
        for (let i = 0; i < FRAMES; i++) client.send(`{"frame":${i}}`)
        socket.uncork()
      })
    }).pipe(Effect.timeout("10 seconds")),
  ({ server, wss }) =>
    Effect.callback<void>((resume) => {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      wss.close()
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

it.live("hands over one frame of a socket per callback, even when a burst arrives in one read", () =>
  Effect.gen(function*() {
    const { received, sameCallback } = yield* framesInOneCallback
    assert.strictEqual(received, FRAMES)
    assert.strictEqual(sameCallback, 0)
  }))
