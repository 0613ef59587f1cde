/**
 * Routing between cluster nodes on one real `redis-server`: frames of one event-loop turn share a
 * PUBLISH and still arrive complete and in order, and so do frames sent while a PUBLISH to their
 * node is unanswered; a cached route follows an agent that moved to
 * another node; frames sent without waiting to a node that has gone are counted as lost and the
 * sender soon gets UNKNOWN_AGENT.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import type * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { eventually, testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"
import * as RedisServer from "./redisServer.ts"

type Node = Context.Service.Shape<typeof Gateway.Gateway>

const unlimited = { perSecond: 1e6, burst: 1e6 }

/** A cluster node on `redis` (nodes share `keyFile`, so one DID), with room for bursts. */
const node = (redis: RedisServer.RedisServer, keyFile: string, overrides: Partial<GatewayConfig.GatewayConfig> = {}) =>
  Effect.map(
    Layer.build(Gateway.layerRedis(testConfig({ keyFile, sessionRate: unlimited, destinationRate: unlimited, ...overrides }), redis.url)),
    Context.get(Gateway.Gateway)
  )

const setup = Effect.gen(function*() {
  const redis = yield* RedisServer.start()
  const keyFile = join(mkdtempSync(join(tmpdir(), "aiconexus-cluster-")), "gateway-identity.json")
  return { redis, keyFile }
})

const agentAt = (gateway: Node, identity: Identity.Identity) =>
  Effect.gen(function*() {
    const client = yield* RawClient.connect(gateway.url)
    const { answer } = yield* RawClient.register(client, identity, gateway.did, gateway.url)
    assert.strictEqual(answer.type, "REGISTERED")
    return client
  })

const bye = (from: Identity.Identity, to: Identity.Identity, reason = "across nodes") =>
  Envelope.make(from, { type: "BYE", to: to.did, payload: { connection_id: crypto.randomUUID(), reason } })

const metrics = (gateway: Node) => Effect.promise(() => fetch(`${gateway.httpUrl}/metrics`).then((response) => response.text()))
const clusterFrames = (text: string, outcome: string) =>
  Number(new RegExp(`^aiconexus_gateway_cluster_frames_total\\{[^}]*outcome="${outcome}"[^}]*\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0)

/** Alice at node `a`, Bob at node `b`, and one frame from her to him delivered: node A knows (and caches) where Bob is. */
const routedPair = (a: Node, b: Node) =>
  Effect.gen(function*() {
    const alice = yield* Identity.generate
    const bob = yield* Identity.generate
    const atA = yield* agentAt(a, alice)
    const atB = yield* agentAt(b, bob)
    const first = Envelope.encode(yield* bye(alice, bob))
    yield* atA.send(first)
    assert.strictEqual(yield* atB.next(), first)
    return { alice, bob, atA, atB }
  })

/** PUBLISH commands the Redis server has run so far (INFO commandstats). */
const publishCount = (store: { readonly info: (section: string) => Promise<string> }) =>
  Effect.promise(() => store.info("commandstats")).pipe(Effect.map((info) => Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0)))

describe("routing between cluster nodes", () => {
  it.live("a burst of frames to an agent on another node arrives complete, byte for byte and in order, in fewer PUBLISHes than frames", () =>
    Effect.gen(function*() {
      const { keyFile, redis } = yield* setup
      const a = yield* node(redis, keyFile)
      const b = yield* node(redis, keyFile)
      const alice = yield* Identity.generate
      const bob = yield* Identity.generate
      const atA = yield* agentAt(a, alice)
      const atB = yield* agentAt(b, bob)
      const frames = yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) => Effect.map(bye(alice, bob, `frame ${i}`), Envelope.encode))
      const store = yield* RedisServer.client(redis)
      const publishes = () => publishCount(store)
      const before = yield* publishes()
      // Written back to back: the gateway reads many of them in one turn.
      for (const frame of frames) yield* atA.send(frame)
      const received: Array<string> = []
      for (let i = 0; i < frames.length; i++) received.push(yield* atB.next())
      assert.deepStrictEqual(received, frames)
      assert.isBelow((yield* publishes()) - before, frames.length)
    }).pipe(Effect.scoped))

  it.live("frames sent one at a time while a PUBLISH to their node is unanswered wait for its answer and go out together, in order", () =>
    Effect.gen(function*() {
      const { keyFile, redis } = yield* setup
      const a = yield* node(redis, keyFile)
      const b = yield* node(redis, keyFile)
      // Node A knows where Bob is, and that node B listens.
      const { alice, atA, atB, bob } = yield* routedPair(a, b)
      const frames = yield* Effect.forEach(Array.from({ length: 6 }, (_, i) => i), (i) => Effect.map(bye(alice, bob, `frame ${i}`), Envelope.encode))
      const store = yield* RedisServer.client(redis)
      const publishes = () => publishCount(store)
      const before = yield* publishes()
      // Redis holds every PUBLISH for a while: the first frame's stays unanswered meanwhile.
      yield* Effect.promise(() => store.sendCommand(["CLIENT", "PAUSE", "1500", "WRITE"]))
      // Each frame in a turn of its own, the rest while the first one's PUBLISH waits.
      for (const frame of frames) {
        yield* atA.send(frame)
        yield* Effect.sleep("30 millis")
      }
      const received: Array<string> = []
      for (let i = 0; i < frames.length; i++) received.push(yield* atB.next(10_000))
      assert.deepStrictEqual(received, frames)
      // One PUBLISH for the first frame, one for the five that waited for its answer.
      assert.strictEqual((yield* publishes()) - before, 2)
    }).pipe(Effect.scoped))

  it.live("a cached route follows an agent that moved to another node: frames reach its new session", () =>
    Effect.gen(function*() {
      const { keyFile, redis } = yield* setup
      const a = yield* node(redis, keyFile)
      const b = yield* node(redis, keyFile)
      const c = yield* node(redis, keyFile)
      // Node A now knows (and caches) that Bob is on node B.
      const { alice, atA, atB, bob } = yield* routedPair(a, b)
      // Bob leaves node B and registers at node C.
      yield* atB.close
      const atC = yield* agentAt(c, bob)
      // The announcement of the new registration reaches node A asynchronously: a frame sent in
      // that instant may still go to B and be lost (at most once); one soon after reaches C.
      const arrived = yield* eventually(
        Effect.gen(function*() {
          const frame = Envelope.encode(yield* bye(alice, bob))
          yield* atA.send(frame)
          return { frame, got: yield* Effect.option(atC.next(500)) }
        }),
        ({ got }) => got._tag === "Some",
        10
      )
      assert.strictEqual(Option.getOrUndefined(arrived.got), arrived.frame)
    }).pipe(Effect.scoped))

  it.live("frames sent to a node that has gone: those not waited for are counted as lost, and the sender soon gets UNKNOWN_AGENT", () =>
    Effect.gen(function*() {
      const { keyFile, redis } = yield* setup
      const a = yield* node(redis, keyFile)
      const bScope = yield* Scope.make()
      const b = yield* Scope.provide(node(redis, keyFile), bScope)
      const alice = yield* Identity.generate
      const bob = yield* Identity.generate
      const atA = yield* agentAt(a, alice)
      const atB = yield* Scope.provide(agentAt(b, bob), bScope)
      const first = Envelope.encode(yield* bye(alice, bob))
      yield* atA.send(first)
      assert.strictEqual(yield* atB.next(), first)
      yield* Scope.close(bScope, Exit.void)

      // One frame at a time until the answer is UNKNOWN_AGENT.
      let sent = 0
      const error = yield* eventually(
        Effect.gen(function*() {
          const frame = yield* bye(alice, bob)
          yield* atA.send(Envelope.encode(frame))
          sent++
          const answer = yield* Effect.option(atA.nextOfType("ERROR", 300))
          return { frame, answer }
        }),
        ({ answer }) => answer._tag === "Some",
        10
      )
      assert.strictEqual(error.answer._tag === "Some" && error.answer.value.payload.code, "UNKNOWN_AGENT")
      assert.strictEqual(error.answer._tag === "Some" && error.answer.value.correlation_id, error.frame.id)
      // Every frame before it was published without waiting and reached nobody: each one is counted.
      assert.strictEqual(clusterFrames(yield* metrics(a), "lost"), sent - 1)
    }).pipe(Effect.scoped))
})
