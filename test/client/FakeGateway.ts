/**
 * A scripted gateway for client tests: it does the handshake like a real one (signed CHALLENGE and
 * REGISTERED), then lets the test decide what it sends and whether it answers.
 *
 * It runs in Node. Tests use it only through `FakeGateway` (effects and plain data), so the same
 * tests run in Chromium, where `FakeGateway.chromium.ts` drives this one over a browser command.
 */
import type { AddressInfo } from "node:net"
import { Effect, Queue, type Scope } from "effect"
import { WebSocketServer } from "ws"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"

/** One registered agent's connection to the fake gateway. */
export interface FakeSession {
  readonly agentDid: string
  /** Sends a raw text frame to the agent. */
  readonly send: (frame: string) => Effect.Effect<void>
  /** The next frame the agent sent after registering. */
  readonly nextReceived: Effect.Effect<string>
}

export interface FakeGateway {
  readonly url: string
  /** The gateway's DID (it signs CHALLENGE and REGISTERED with its key). */
  readonly did: string
  /** An envelope signed with the gateway's own key (what a gateway could forge). */
  readonly sign: <T extends Envelope.Type>(draft: Envelope.Draft<T>) => Effect.Effect<Envelope.Envelope<T>>
  /** The next agent that registered. */
  readonly nextSession: Effect.Effect<FakeSession>
}

/** Starts a fake gateway on a random loopback port; it stops with the scope. */
export const start = (options: { readonly heartbeatIntervalMs?: number } = {}): Effect.Effect<FakeGateway, never, Scope.Scope> =>
  Effect.gen(function*() {
    const identity = yield* Effect.orDie(Identity.generate)
    const sessions = yield* Queue.unbounded<FakeSession>()
    // A test still waiting for a session when the gateway stops is interrupted, not left hanging.
    yield* Effect.addFinalizer(() => Queue.shutdown(sessions))
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
            Queue.offerUnsafe(sessions, {
              agentDid: register.from,
              send: (frame) => Effect.sync(() => socket.send(frame)),
              nextReceived: Queue.take(received)
            })
          }))
        })
        socket.send(Envelope.encode(challenge))
      }))
    })
    return {
      url,
      did: identity.did,
      sign: (draft) => Effect.orDie(Envelope.make(identity, draft)),
      nextSession: Queue.take(sessions)
    }
  })
