/**
 * The connection guard (ConnectionGuard.ts) in front of a node:http server on loopback: a
 * connection over the per-IP limit is closed before Node makes a socket of it (no `connection`
 * event, no HTTP parser, timers or listeners); the connections it keeps are served.
 */
import { assert, it } from "@effect/vitest"
import { createServer, type Server } from "node:http"
import { connect as tcpConnect, type Socket } from "node:net"
import { Deferred, Effect } from "effect"
import * as ConnectionGuard from "../../src/gateway/ConnectionGuard.ts"
import { testConfig } from "./fixtures.ts"

const config = testConfig({ maxTcpConnectionsPerIp: 2, headerTimeoutMs: 10_000 })

/** A server on a random loopback port, guarded; counts the connections its own handling saw. */
const guardedServer = Effect.acquireRelease(
  Effect.callback<{ server: Server; port: number; handled: () => number; emitted: () => number; refused: () => number; guard: ConnectionGuard.ConnectionGuard }>((resume) => {
    const server = createServer(ConnectionGuard.serverOptions(config), (_request, response) => response.end("ok"))
    let handled = 0
    // Stands for any handling of the server's own, registered before the guard (as node:http's is).
    server.on("connection", () => void handled++)
    let refused = 0
    const guard = ConnectionGuard.install(server, config, new Set(), () => void refused++)
    // Every connection Node made a socket of (a listener of its own, not behind the guard's).
    let emitted = 0
    server.on("connection", () => void emitted++)
    server.listen(0, "127.0.0.1", () => {
      const address = server.address()
      resume(Effect.succeed({
        server,
        port: typeof address === "object" && address !== null ? address.port : 0,
        handled: () => handled,
        emitted: () => emitted,
        refused: () => refused,
        guard
      }))
    })
  }),
  ({ guard, server }) =>
    Effect.callback<void>((resume) => {
      guard.remove()
      server.closeAllConnections()
      server.close(() => resume(Effect.void))
    })
)

/** A TCP connection from `from`; resolves once connected, with a Deferred done when it closes. */
const tcp = (port: number, from: string) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly socket: Socket; readonly closed: Deferred.Deferred<void> }>((resume) => {
      const closed = Deferred.makeUnsafe<void>()
      const socket = tcpConnect({ host: "127.0.0.1", port, localAddress: from })
      socket.on("error", () => undefined)
      socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
      socket.on("connect", () => resume(Effect.succeed({ socket, closed })))
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

it.live("a connection over the per-IP limit never reaches the server's own handling; the others are served", () =>
  Effect.scoped(Effect.gen(function*() {
    const { handled, port, refused } = yield* guardedServer
    const kept = yield* Effect.forEach([1, 2], () => tcp(port, "127.0.0.2"))
    const over = yield* tcp(port, "127.0.0.2")
    yield* Deferred.await(over.closed).pipe(Effect.timeout("5 seconds"))
    assert.strictEqual(refused(), 1)
    assert.strictEqual(handled(), 2)
    // A kept connection is an HTTP connection as before.
    const answer = yield* Effect.callback<string>((resume) => {
      let text = ""
      kept[0]!.socket.on("data", (chunk: Buffer) => {
        text += chunk.toString()
        if (text.endsWith("ok")) resume(Effect.succeed(text))
      })
      kept[0]!.socket.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    }).pipe(Effect.timeout("5 seconds"))
    assert.match(answer, /^HTTP\/1\.1 200/)
  })))

it.live("a connection over the limit is closed before Node makes a socket of it; a freed place lets the next one in", () =>
  Effect.scoped(Effect.gen(function*() {
    const { emitted, guard, handled, port, refused } = yield* guardedServer
    const kept = yield* Effect.forEach([1, 2], () => tcp(port, "127.0.0.2"))
    for (let i = 0; i < 3; i++) {
      const over = yield* tcp(port, "127.0.0.2")
      yield* Deferred.await(over.closed).pipe(Effect.timeout("5 seconds"))
    }
    assert.strictEqual(refused(), 3)
    assert.strictEqual(emitted(), 2)
    // Another address has its own count.
    yield* tcp(port, "127.0.0.3")
    kept[0]!.socket.destroy()
    yield* Deferred.await(kept[0]!.closed)
    // The server sees the close a moment after the client: until then the address is still full.
    const next = yield* tcp(port, "127.0.0.2").pipe(
      Effect.flatMap((connection) =>
        Effect.raceFirst(Effect.as(Deferred.await(connection.closed), "closed" as const), Effect.as(Effect.sleep("300 millis"), "open" as const)).pipe(
          Effect.map((outcome) => ({ connection, outcome }))
        )
      ),
      Effect.repeat({ until: ({ outcome }) => outcome === "open", times: 20 })
    )
    assert.strictEqual(next.outcome, "open")
    assert.strictEqual(guard.open("127.0.0.2"), 2)
    assert.strictEqual(handled(), emitted())
  })))
