/**
 * Holes a hostile client could use against a gateway with default limits (issue 18): replies to
 * clients that never read, idle and trickling TCP before the upgrade, REGISTERs naming another
 * server.
 */
import { mkdtempSync, readFileSync } from "node:fs"
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
      const gateway = yield* startProcess(mkdtempSync(join(tmpdir(), "aiconexus-hostile-")), 0, {
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

