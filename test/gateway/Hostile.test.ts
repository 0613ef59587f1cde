/**
 * Holes a hostile client could use against a gateway with default limits (issue 18): replies to
 * clients that never read, idle and trickling TCP before the upgrade, REGISTERs naming another
 * server.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs"
import { connect as tcpConnect, type Socket } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it, layer } from "@effect/vitest"
import { Deferred, Effect, Fiber } from "effect"
import WebSocket from "ws"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { eventually, startProcess, testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

/** Resident memory of a process, in bytes. */
const rssOf = (pid: number): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) * 1024

/** A counter of the gateway's /metrics (0 when absent). */
const counter = (httpUrl: string, name: string, labels: string) =>
  Effect.promise(async () => {
    const text = await (await fetch(`${httpUrl}/metrics`)).text()
    const line = text.split("\n").find((l) => l.startsWith(`${name}{`) && l.includes(labels))
    return line === undefined ? 0 : Number(line.split(" ").at(-1))
  })

/**
 * A registered client that stops reading its socket (the kernel queues fill, then the gateway's)
 * and keeps sending DISCOVER as fast as `perSecond`; resolves when its socket closes.
 */
const neverReading = (url: string, gatewayDid: string, perSecond: number, seconds: number) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const raw = yield* RawClient.connect(url)
    const { answer } = yield* RawClient.register(raw, identity, gatewayDid, url)
    assert.strictEqual(answer.type, "REGISTERED")
    const socket = raw.socket as WebSocket & { _socket: Socket }
    socket._socket.pause()
    const closed = yield* Deferred.make<void>()
    socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
    socket._socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
    const sending = Effect.gen(function*() {
      for (let i = 0; i < perSecond * seconds && socket.readyState === WebSocket.OPEN; i++) {
        const discover = yield* Envelope.make(identity, { type: "DISCOVER", to: gatewayDid as never, payload: { limit: 100 } })
        socket.send(Envelope.encode(discover))
        yield* Effect.sleep(1000 / perSecond)
      }
    })
    yield* Effect.raceFirst(sending, Deferred.await(closed))
    return yield* Deferred.isDone(closed)
  })

describe("gateway against clients that never read", () => {
  it.live("drops sessions that ask for replies they never read, and its memory stays bounded", () =>
    Effect.gen(function*() {
      // Replies are PEERS of ~60 KB: the default outbound cap (1 MiB) is reached in seconds.
      const dataDir = yield* Effect.acquireRelease(
        Effect.sync(() => mkdtempSync(join(tmpdir(), "aiconexus-hostile-"))),
        (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
      )
      const gateway = yield* startProcess(dataDir, 0, {
        AICONEXUS_DISCOVER_RATE_PER_SECOND: "100",
        AICONEXUS_DISCOVER_RATE_BURST: "100",
        AICONEXUS_SESSION_RATE_PER_SECOND: "200",
        AICONEXUS_SESSION_RATE_BURST: "200"
      })
      const httpUrl = gateway.url.replace(/^ws/, "http").replace(/\/ws$/, "")
      // Agents whose capabilities fill every PEERS answer.
      for (let i = 0; i < 8; i++) {
        const client = yield* RawClient.connect(gateway.url)
        const capabilities = Array.from({ length: 30 }, (_, c) => ({ id: `capability-${i}-${c}`, description: "x".repeat(300) }))
        const { answer } = yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url, { capabilities })
        assert.strictEqual(answer.type, "REGISTERED")
      }
      const pid = gateway.child.pid!
      const baseline = rssOf(pid)
      let peak = baseline
      const sampling = yield* Effect.forkChild(Effect.forever(Effect.andThen(
        Effect.sync(() => void (peak = Math.max(peak, rssOf(pid)))),
        Effect.sleep("100 millis")
      )))
      const attackers = 6
      const dropped = yield* Effect.all(
        Array.from({ length: attackers }, () => neverReading(gateway.url, gateway.did, 80, 25)),
        { concurrency: "unbounded" }
      )
      yield* eventually(counter(httpUrl, "aiconexus_gateway_sessions_closed_total", `code="4003"`), (n) => n >= attackers, 10)
      yield* Fiber.interrupt(sampling)
      assert.deepStrictEqual(dropped, Array(attackers).fill(true))
      // Each session may hold the cap (1 MiB) and one reply before it is dropped.
      assert.isBelow(peak - baseline, 120 * 1024 * 1024, `gateway RSS grew from ${baseline} to ${peak}`)
      // The gateway still serves: a new agent registers and discovers.
      const fresh = yield* RawClient.connect(gateway.url)
      const agent = yield* Identity.generate
      assert.strictEqual((yield* RawClient.register(fresh, agent, gateway.did, gateway.url)).answer.type, "REGISTERED")
      const peers = yield* RawClient.discover(fresh, agent, gateway.did, { limit: 1 })
      assert.strictEqual(peers.agents.length, 1)
    }), 90_000)
})


/** A raw TCP connection to the gateway of `url` from the loopback address `from`; resolves once connected. */
const tcp = (url: string, from: string) =>
  Effect.acquireRelease(
    Effect.callback<{ readonly socket: Socket; readonly closed: Deferred.Deferred<void> }>((resume) => {
      const { hostname, port } = new URL(url)
      const closed = Deferred.makeUnsafe<void>()
      const socket = tcpConnect({ host: hostname, port: Number(port), localAddress: from })
      socket.on("error", () => undefined)
      socket.on("close", () => Deferred.doneUnsafe(closed, Effect.void))
      socket.on("connect", () => resume(Effect.succeed({ socket, closed })))
    }),
    ({ socket }) => Effect.sync(() => socket.destroy())
  )

const PRE_UPGRADE = testConfig({ maxTcpConnectionsPerIp: 8, headerTimeoutMs: 600 })

layer(Gateway.layerMemory(PRE_UPGRADE), { excludeTestServices: true })("gateway before the WebSocket upgrade", (it) => {
  it.effect("drops TCP connections over the per-IP limit at once, and only from that IP", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const held = yield* Effect.forEach(Array.from({ length: 8 }), () => tcp(gateway.url, "127.0.0.2"))
      const over = yield* tcp(gateway.url, "127.0.0.2")
      yield* Deferred.await(over.closed).pipe(Effect.timeout("5 seconds"))
      // Dropped for the limit, not reaped by the header timeout.
      assert.strictEqual(yield* counter(gateway.httpUrl, "aiconexus_gateway_connections_dropped_total", `reason="per_ip"`), 1)
      for (const connection of held) assert.isFalse(yield* Deferred.isDone(connection.closed))
      // Another address still gets in and registers.
      const client = yield* RawClient.connect(gateway.url)
      assert.strictEqual((yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url)).answer.type, "REGISTERED")
    }))

  it.effect("drops idle and trickling connections after the header timeout, not upgraded sessions", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const idle = yield* tcp(gateway.url, "127.0.0.3")
      // A slow handshake: one header byte every 100 ms, never finished.
      const slow = yield* tcp(gateway.url, "127.0.0.3")
      slow.socket.write("GET /ws HTTP/1.1\r\nHost: x\r\n")
      const trickle = yield* Effect.forkChild(Effect.forever(Effect.andThen(
        Effect.sync(() => slow.socket.write("X")),
        Effect.sleep("100 millis")
      )))
      const client = yield* RawClient.connect(gateway.url)
      const agent = yield* Identity.generate
      assert.strictEqual((yield* RawClient.register(client, agent, gateway.did, gateway.url)).answer.type, "REGISTERED")
      // Bounded waits: without the header timeout both would stay open for a minute.
      yield* Deferred.await(idle.closed).pipe(Effect.timeout("5 seconds"))
      yield* Deferred.await(slow.closed).pipe(Effect.timeout("5 seconds"))
      yield* Fiber.interrupt(trickle)
      // The registered session, silent all that time, is still served.
      const ping = yield* Envelope.make(agent, { type: "PING", to: gateway.did as never, payload: {} })
      yield* client.send(Envelope.encode(ping))
      assert.strictEqual((yield* client.nextOfType("PONG")).correlation_id, ping.id)
    }))
})

/** ~60 KB that JSON.parse accepts, with a name written twice: each costs a full parse to refuse. */
const duplicateKeyFrame = `{${Array.from({ length: 2200 }, (_, i) => `"k${i}":[1,"two",{"t":"x"}]`).join(",")},"k0":0}`

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway against unreadable frames", (it) => {
  it.effect("closes a session (4000) once its refused frames pass the byte budget, before the frame count would", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url)
      assert.strictEqual((yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url)).answer.type, "REGISTERED")
      for (let i = 0; i < 6; i++) yield* client.send(duplicateKeyFrame)
      const errors: Array<string> = []
      const closed = yield* client.closed.pipe(Effect.timeout("10 seconds"))
      while (true) {
        const next = yield* Effect.result(client.next(100))
        if (next._tag === "Failure") break
        errors.push((JSON.parse(next.success) as Envelope.Envelope<"ERROR">).payload.code)
      }
      assert.strictEqual(closed.code, 4000)
      // 64 KiB of refused frames: the second passes the budget (the frame count allows 20).
      assert.deepStrictEqual(errors, Array(2).fill("MALFORMED_MESSAGE"))
    }))

  it.effect("reads nothing more from a session closed for abuse, and drops it soon after the close frame", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url)
      assert.strictEqual((yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url)).answer.type, "REGISTERED")
      // The client stops reading (it never sees the close) and keeps sending 60 KB refused frames.
      const socket = client.socket as WebSocket & { _socket: Socket }
      const tcp = socket._socket
      tcp.removeAllListeners("data")
      tcp.removeAllListeners("end")
      tcp.pause()
      tcp.on("error", () => undefined)
      const dropped = yield* Deferred.make<void>()
      tcp.on("close", () => Deferred.doneUnsafe(dropped, Effect.void))
      const total = 64 * 1024 * 1024
      let sent = 0
      const started = Date.now()
      while (sent - socket.bufferedAmount < total && !tcp.destroyed && Date.now() - started < 8000) {
        if (socket.bufferedAmount < 1024 * 1024) {
          socket.send(duplicateKeyFrame)
          sent += duplicateKeyFrame.length
        } else yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 5)))
      }
      const taken = sent - socket.bufferedAmount
      // Dropped by the gateway, not left to ws's 30 s close timeout.
      yield* Deferred.await(dropped).pipe(Effect.timeout("10 seconds"))
      // What the kernel took before the gateway's window closed: far less than a reading gateway
      // drains (it read and dropped all 64 MiB before).
      assert.isBelow(taken, 32 * 1024 * 1024)
    }))
})

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway REGISTER endpoint, by default", (it) => {
  it.effect("refuses a REGISTER whose endpoint is not the host the client dialled", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url)
      const refused = yield* RawClient.register(client, yield* Identity.generate, gateway.did, "wss://other-gateway.example/ws")
      assert.strictEqual(refused.answer.type, "ERROR")
      assert.strictEqual((refused.answer as Envelope.Envelope<"ERROR">).payload.code, "UNAUTHORIZED")
      assert.strictEqual((yield* client.closed).code, 4002)
    }))

  it.effect("does not believe X-Forwarded-Host from a peer that is not a trusted proxy", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url, { headers: { "X-Forwarded-Host": "gw.example.com" } })
      const refused = yield* RawClient.register(client, yield* Identity.generate, gateway.did, "wss://gw.example.com/ws")
      assert.strictEqual(refused.answer.type, "ERROR")
      assert.strictEqual((yield* client.closed).code, 4002)
    }))
})

layer(Gateway.layerMemory(testConfig({ trustedProxies: ["127.0.0.1"] })), { excludeTestServices: true })("gateway REGISTER endpoint behind a trusted proxy", (it) => {
  it.effect("checks the endpoint against the host the proxy says the client dialled", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const headers = { "X-Forwarded-Host": "gw.example.com", "X-Forwarded-For": "203.0.113.7" }
      const good = yield* RawClient.connect(gateway.url, { headers })
      assert.strictEqual((yield* RawClient.register(good, yield* Identity.generate, gateway.did, "wss://gw.example.com/ws")).answer.type, "REGISTERED")
      const bad = yield* RawClient.connect(gateway.url, { headers })
      const refused = yield* RawClient.register(bad, yield* Identity.generate, gateway.did, gateway.url)
      assert.strictEqual(refused.answer.type, "ERROR")
      assert.strictEqual((yield* bad.closed).code, 4002)
    }))
})
