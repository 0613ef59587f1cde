/**
 * A cluster node's synchronous paths on a real `redis-server`: `lookupNow` and `routeNow` answer
 * at once for this node's sessions and for remote agents whose location is cached (after a
 * `lookup`), hand everything else to the Effect paths, and forget a cached location when the
 * agent registers again elsewhere. Frames to a node within the least interval between two
 * PUBLISHes share the next one. Nodes' directories and routers are used directly (no sockets).
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Option } from "effect"
import type { AgentEntry } from "../../src/gateway/AgentRegistry.ts"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import * as RedisCluster from "../../src/gateway/RedisCluster.ts"
import * as RedisConnection from "../../src/gateway/RedisConnection.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { eventually, testConfig } from "./fixtures.ts"
import * as RedisServer from "./redisServer.ts"

const node = (redis: RedisServer.RedisServer, nodeId: string, minPublishIntervalMs?: number) =>
  Effect.map(
    Layer.build(
      RedisCluster.layer({ nodeId, keyPrefix: "aiconexus", presenceTtlMs: 30_000, minPublishIntervalMs }).pipe(
        Layer.provide(RedisConnection.layer(testConfig(), redis.url))
      )
    ),
    (services) => ({ registry: Context.get(services, AgentRegistry), router: Context.get(services, Router) })
  )

type Node = Effect.Success<ReturnType<typeof node>>

/** An entry as the directory reads it back (an absent name is read as `undefined`). */
const entryOf = (identity: Identity.Identity): AgentEntry => ({
  did: identity.did,
  name: undefined,
  capabilities: [],
  unlisted: false,
  connectedAt: new Date().toISOString(),
  sessionId: crypto.randomUUID()
})

/** Registers `entry` at `at` with a session that records what it is handed. */
const agentAt = (at: Node, entry: AgentEntry) =>
  Effect.gen(function*() {
    const received: Array<string> = []
    yield* at.registry.register(entry)
    yield* at.router.attach(entry.did, { sessionId: entry.sessionId, deliver: (frame) => (received.push(frame), "delivered"), replaced: Effect.void })
    return received
  })

describe("a cluster node's synchronous lookup and route", () => {
  it.live("answer at once for local sessions and cached remote locations, defer the rest, and forget a location when the agent moves", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.start()
      const a = yield* node(redis, "node-a")
      const b = yield* node(redis, "node-b")
      const c = yield* node(redis, "node-c")
      const alice = entryOf(yield* Identity.generate)
      const bob = entryOf(yield* Identity.generate)
      const atA = yield* agentAt(a, alice)
      const atB = yield* agentAt(b, bob)

      // A session of this node: at once, without an Effect.
      assert.deepStrictEqual(a.registry.lookupNow?.(alice.did), Option.some(alice))
      assert.strictEqual(a.router.routeNow?.(alice.did, "to alice"), "delivered")
      assert.deepStrictEqual(atA, ["to alice"])

      // A remote agent not looked up yet: only the Effect paths know (they ask Redis).
      assert.strictEqual(a.registry.lookupNow?.(bob.did), undefined)
      assert.strictEqual(a.router.routeNow?.(bob.did, "early"), undefined)
      assert.deepStrictEqual(yield* a.registry.lookup(bob.did), Option.some(bob))
      // Now cached: the same answer at once.
      assert.deepStrictEqual(a.registry.lookupNow?.(bob.did), Option.some(bob))
      // Node B has not answered a PUBLISH of A's yet: the first frame waits for its answer.
      assert.strictEqual(a.router.routeNow?.(bob.did, "first"), undefined)
      assert.strictEqual(yield* a.router.route(bob.did, "first"), "delivered")
      // B answered: frames to it go at once.
      assert.strictEqual(a.router.routeNow?.(bob.did, "second"), "delivered")
      assert.strictEqual(a.router.routeNow?.(bob.did, "third"), "delivered")
      yield* eventually(Effect.sync(() => atB.length), (n) => n === 3, 20)
      assert.deepStrictEqual(atB, ["first", "second", "third"])

      // Bob registers again at node C: the announcement clears A's cached location.
      const bobAtC = { ...bob, sessionId: crypto.randomUUID() }
      const atC = yield* agentAt(c, bobAtC)
      yield* eventually(Effect.sync(() => a.registry.lookupNow?.(bob.did)), (found) => found === undefined, 20)
      assert.strictEqual(a.router.routeNow?.(bob.did, "lost?"), undefined)
      assert.strictEqual(yield* a.router.route(bob.did, "to C"), "delivered")
      assert.deepStrictEqual(a.registry.lookupNow?.(bob.did), Option.some(bobAtC))
      yield* eventually(Effect.sync(() => atC.length), (n) => n === 1, 20)
      assert.deepStrictEqual(atC, ["to C"])
    }).pipe(Effect.scoped), 60_000)

  it.live("frames to a node within the least interval after its last PUBLISH wait and share the next one; a frame after a quiet spell goes at once", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.start()
      const intervalMs = 400
      const a = yield* node(redis, "node-a", intervalMs)
      const b = yield* node(redis, "node-b", intervalMs)
      const bob = entryOf(yield* Identity.generate)
      const atB = yield* agentAt(b, bob)
      const store = yield* RedisServer.client(redis)
      const publishes = () => Effect.promise(() => store.info("commandstats")).pipe(Effect.map((info) => Number(/cmdstat_publish:calls=(\d+)/.exec(info)?.[1] ?? 0)))
      yield* a.registry.lookup(bob.did)
      assert.strictEqual(yield* a.router.route(bob.did, "warm-up"), "delivered")
      // A quiet spell longer than the interval.
      yield* Effect.sleep(intervalMs + 200)
      const before = yield* publishes()
      // Six frames, each in a turn of its own, well within one interval.
      const frames = Array.from({ length: 6 }, (_, i) => `frame ${i}`)
      for (const frame of frames) {
        assert.strictEqual(a.router.routeNow?.(bob.did, frame), "delivered")
        yield* Effect.sleep("10 millis")
      }
      // The first went at once; the others wait for the interval to be over.
      yield* eventually(Effect.sync(() => atB.length), (n) => n >= 2, 20)
      assert.deepStrictEqual(atB, ["warm-up", "frame 0"])
      yield* eventually(Effect.sync(() => atB.length), (n) => n === 7, 20)
      assert.deepStrictEqual(atB, ["warm-up", ...frames])
      assert.strictEqual((yield* publishes()) - before, 2)
    }).pipe(Effect.scoped), 60_000)
})
