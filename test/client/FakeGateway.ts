/**
 * A scripted gateway for client tests: it does the handshake like a real one (signed CHALLENGE and
 * REGISTERED), then lets the test decide what it sends and whether it answers.
 */
import type { AddressInfo } from "node:net"
import { Effect, Queue, type Scope } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"

export interface FakeSession {
  readonly socket: WebSocket
  readonly agentDid: string
  /** Frames the agent sent after registering. */
  readonly received: Queue.Queue<string>
}

export interface FakeGateway {
  readonly url: string
  readonly identity: Identity.Identity
  readonly sessions: Queue.Queue<FakeSession>
}

/** Starts a fake gateway on a random loopback port; it stops with the scope. */
export const start = (options: { readonly heartbeatIntervalMs?: number } = {}): Effect.Effect<FakeGateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    const identity = yield* Effect.orDie(Identity.generate)
    const sessions = yield* Queue.unbounded<FakeSession>()
    const server = yield* Effect.acquireRelease(
      Effect.callback<WebSocketServer>((resume) => {
        const server = new WebSocketServer({ host: "127.0.0.1", port: 0, handleProtocols: () => "ioap.v1" })
        server.on("listening", () => resume(Effect.succeed(server)))
      }),
      (server) => Effect.sync(() => {
        for (const client of server.clients) client.terminate()
        server.close()
      })
    )
    const url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`
    const run = Effect.runPromise
    server.on("connection", (socket) => {
      void run(Effect.gen(function*() {
        const received = yield* Queue.unbounded<string>()
        const challenge = yield* Envelope.make(identity, { type: "CHALLENGE", payload: { nonce: "A".repeat(43) } })
        let agentDid: string | undefined
        socket.on("message", (data) => {
          const text = data.toString()
          if (agentDid !== undefined) {
            Queue.offerUnsafe(received, text)
            return
          }
          const register = JSON.parse(text) as Envelope.Envelope<"REGISTER">
          agentDid = register.from
          void run(Effect.gen(function*() {
            const registered = yield* Envelope.make(identity, {
              type: "REGISTERED",
              to: register.from,
              correlation_id: register.id,
              payload: {
                session_id: "fake",
                heartbeat_interval_ms: options.heartbeatIntervalMs ?? 20_000,
                session_timeout_ms: 3 * (options.heartbeatIntervalMs ?? 20_000),
                max_message_bytes: 65536,
                ice_servers: []
              }
            })
            socket.send(Envelope.encode(registered))
            Queue.offerUnsafe(sessions, { socket, agentDid: register.from, received })
          }))
        })
        socket.send(Envelope.encode(challenge))
      }))
    })
    return { url, identity, sessions }
  })
