import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Metric, Option, Queue, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import type { Did } from "../../src/protocol/Did.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as PeerMetrics from "../../src/webrtc/peer/PeerMetrics.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { background, line } from "../processes.ts"
import { agent } from "./fixtures.ts"

describe("Agent", () => {
  it.live("discovers a capability, connects, sends an INTENT and calls capabilities with typed failures", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const bob = yield* agent(gateway.url, {
        name: "bob",
        serve: [
          { capability: { id: "echo" }, handler: (args) => Effect.succeed(args) },
          { capability: { id: "boom" }, handler: () => Effect.fail("broken") },
          { capability: { id: "slow" }, handler: () => Effect.as(Effect.sleep("5 seconds"), null) }
        ]
      })
      const alice = yield* agent(gateway.url)
      const found = yield* alice.discover({ capability: "echo" })
      assert.deepStrictEqual(found.map((e) => e.did), [bob.did])
      const incoming = yield* Effect.forkChild(bob.sessions.pipe(Stream.runHead))
      const session = yield* alice.connect(bob.did)
      const bobs = Option.getOrThrow(yield* Fiber.join(incoming))
      assert.strictEqual(bobs.remote, alice.did)
      const intents = yield* Effect.forkChild(bobs.intents.pipe(Stream.runHead))
      yield* session.intent({ query: "can you echo?" })
      assert.deepStrictEqual(yield* Fiber.join(intents), Option.some({ query: "can you echo?" }))
      assert.deepStrictEqual(yield* session.request("echo", { text: "hi", n: 3 }), { text: "hi", n: 3 })
      const unknown = yield* Effect.flip(session.request("nope", {}))
      assert.strictEqual(unknown.code, "UNKNOWN_CAPABILITY")
      const boom = yield* Effect.flip(session.request("boom", {}))
      assert.strictEqual(boom.code, "INTERNAL_ERROR")
      const slow = yield* Effect.flip(session.request("slow", {}, { timeoutMs: 200 }))
      assert.strictEqual(slow.code, "TIMEOUT")
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("metrics count connections, connect time, traffic and failed calls", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const bob = yield* agent(gateway.url, { serve: [{ capability: { id: "echo" }, handler: (args) => Effect.succeed(args) }] })
      const alice = yield* agent(gateway.url)
      const incoming = yield* Effect.forkChild(bob.sessions.pipe(Stream.runHead))
      const session = yield* alice.connect(bob.did)
      const bobs = Option.getOrThrow(yield* Fiber.join(incoming))
      assert.strictEqual((yield* Metric.value(PeerMetrics.connections("offerer"))).count, 1)
      assert.strictEqual((yield* Metric.value(PeerMetrics.connections("answerer"))).count, 1)
      assert.strictEqual((yield* Metric.value(PeerMetrics.activeConnections)).value, 2)
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectSeconds)).count, 1)

      yield* session.request("echo", { text: "x".repeat(1000) })
      yield* Effect.flip(session.request("nope", {}))
      assert.strictEqual((yield* Metric.value(PeerMetrics.requestErrors("UNKNOWN_CAPABILITY"))).count, 1)
      // A code a peer made up does not make a new label.
      assert.strictEqual(PeerMetrics.requestErrors("made-up by the peer"), PeerMetrics.requestErrors("OTHER"))
      // Both agents are in this registry: every message sent is also received, by the other.
      const sent = (yield* Metric.value(PeerMetrics.messages("sent"))).count
      assert.isAtLeast(sent, 4)
      assert.strictEqual((yield* Metric.value(PeerMetrics.messages("received"))).count, sent)
      assert.isAbove((yield* Metric.value(PeerMetrics.bytes("received"))).count, 2000)

      yield* session.close
      yield* bobs.ended
      assert.strictEqual((yield* Metric.value(PeerMetrics.activeConnections)).value, 0)

      // An agent the gateway does not know: one attempt, no pointless retries (a loaded machine may
      // have made the connect above retry, so count from here).
      const retriesBefore = (yield* Metric.value(PeerMetrics.connectRetries)).count
      const unknown = yield* Effect.flip(alice.connect((yield* Identity.generate).did))
      assert.strictEqual(unknown._tag, "ConnectFailed")
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectRetries)).count, retriesBefore)
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectErrors("ConnectFailed"))).count, 1)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())), { timeout: 30_000 })

  it.live("the accept policy refuses an unknown DID: connect fails with ConnectionRefused", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const friend = yield* Identity.generate
      const bob = yield* agent(gateway.url, { acceptPolicy: (did) => Effect.succeed(did === friend.did) })
      const stranger = yield* agent(gateway.url)
      const error = yield* Effect.flip(stranger.connect(bob.did))
      assert.strictEqual(error._tag, "ConnectionRefused")
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectErrors("ConnectionRefused"))).count, 1)
      assert.strictEqual((yield* Metric.value(PeerMetrics.activeConnections)).value, 0)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())), { timeout: 30_000 })
})

describe("Agent requests", () => {
  it.live("the authorization hook refuses a capability per caller; interrupting a call cancels the handler at the peer", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const started = yield* Deferred.make<void>()
      const interrupted = yield* Deferred.make<void>()
      const bob = yield* agent(gateway.url, {
        serve: [
          { capability: { id: "secret" }, handler: () => Effect.succeed("the secret") },
          {
            capability: { id: "long" },
            handler: () =>
              Effect.andThen(Deferred.succeed(started, undefined), Effect.never).pipe(
                Effect.onInterrupt(() => Deferred.succeed(interrupted, undefined))
              )
          }
        ],
        authorize: (_remote, capability) => Effect.succeed(capability !== "secret")
      })
      const alice = yield* agent(gateway.url)
      const session = yield* alice.connect(bob.did)
      const refused = yield* Effect.flip(session.request("secret", {}))
      assert.strictEqual(refused.code, "UNAUTHORIZED")
      const call = yield* Effect.forkChild(session.request("long", {}))
      yield* Deferred.await(started)
      yield* Fiber.interrupt(call)
      // The peer's handler is interrupted (EXEC_CANCEL), not left running.
      yield* Deferred.await(interrupted).pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("streamed answers: partial results arrive as a Stream, `request` collects them, a mid-stream failure is typed", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const bob = yield* agent(gateway.url, {
        serve: [
          { capability: { id: "count" }, stream: (args) => Stream.range(1, Number(args["to"])) },
          { capability: { id: "flaky" }, stream: () => Stream.concat(Stream.make("a", "b"), Stream.fail("broken")) },
          { capability: { id: "big" }, handler: () => Effect.succeed("x".repeat(70_000)) },
          { capability: { id: "big-streamed" }, stream: () => Stream.make("a", "b", "c", "d").pipe(Stream.map((c) => c.repeat(60_000))) }
        ]
      })
      const alice = yield* agent(gateway.url)
      const session = yield* alice.connect(bob.did)
      const streamed = yield* Stream.runCollect(session.requestStream("count", { to: 300 }, { bufferSize: 1000 }))
      assert.deepStrictEqual(streamed, Array.from({ length: 300 }, (_, i) => i + 1))
      assert.deepStrictEqual(yield* session.request("count", { to: 3 }), [1, 2, 3])
      const received: Array<unknown> = []
      const failure = yield* Effect.flip(Stream.runForEach(session.requestStream("flaky", {}), (r) => Effect.sync(() => received.push(r))))
      assert.deepStrictEqual(received, ["a", "b"])
      assert.strictEqual(failure.code, "INTERNAL_ERROR")
      // One envelope is at most 64 KiB: a larger result is refused with a typed answer, not lost;
      // streamed, it travels as partial results.
      assert.strictEqual((yield* Effect.flip(session.request("big", {}))).code, "MESSAGE_TOO_LARGE")
      const big = yield* session.request("big-streamed", {})
      assert.deepStrictEqual(big, ["a", "b", "c", "d"].map((c) => c.repeat(60_000)))
      assert.strictEqual((yield* Effect.flip(session.request("echo", { text: "y".repeat(70_000) }))).code, "MESSAGE_TOO_LARGE")
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("a stream the caller stops early, or does not read fast enough, is cancelled at the peer", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const interrupted = yield* Queue.unbounded<void>()
      const bob = yield* agent(gateway.url, {
        serve: [{
          capability: { id: "forever" },
          stream: () => Stream.iterate(0, (n) => n + 1).pipe(Stream.ensuring(Queue.offer(interrupted, undefined)))
        }]
      })
      const alice = yield* agent(gateway.url)
      const session = yield* alice.connect(bob.did)
      // Two results are enough: ending the Stream sends EXEC_CANCEL and the endless handler stops.
      assert.deepStrictEqual(yield* Stream.runCollect(Stream.take(session.requestStream("forever", {}), 2)), [0, 1])
      yield* Queue.take(interrupted).pipe(Effect.timeout("10 seconds"))
      // A consumer that does not read: past `bufferSize` waiting results the call fails with OVERFLOW.
      const overflow = yield* session.requestStream("forever", {}, { bufferSize: 8 }).pipe(
        Stream.tap(() => Effect.sleep("100 millis")),
        Stream.runDrain,
        Effect.flip
      )
      assert.strictEqual(overflow.code, "OVERFLOW")
      yield* Queue.take(interrupted).pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("a peer process killed mid-stream: the caller's Stream fails typed (session ended), it does not hang", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const { child, lines } = yield* background(["test/agent/agentProcess.ts", gateway.url])
      const ready = (yield* line(lines, /^ready (\S+)/))[1]!
      const alice = yield* agent(gateway.url, { liveness: { pingIntervalMs: 100, livenessTimeoutMs: 1_000 } })
      const session = yield* alice.connect(ready as Did)
      let received = 0
      const failure = yield* session.requestStream("forever", {}).pipe(
        Stream.runForEach(() =>
          Effect.sync(() => {
            // After a few parts have arrived, the peer's process dies.
            if (++received === 5) child.kill("SIGKILL")
          })),
        Effect.flip,
        Effect.timeout("15 seconds")
      )
      assert.isAtLeast(received, 5)
      assert.strictEqual(failure._tag, "RequestFailed")
      assert.strictEqual(failure.code, "CANCELLED")
      assert.include(failure.reason, "session ended")
    }).pipe(Effect.scoped), { timeout: 40_000 })
})
