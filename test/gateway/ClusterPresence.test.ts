/**
 * A cluster node's presence refresh on a real `redis-server` (held entries are re-claimed many to a
 * round trip): it keeps every entry alive, replaces a local session whose DID a newer registration
 * holds, and re-publishes an entry the store lost. The node's directory and router are used
 * directly (no sockets), so agents need no heartbeats.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Layer } from "effect"
import type { AgentEntry } from "../../src/gateway/AgentRegistry.ts"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import * as RedisCluster from "../../src/gateway/RedisCluster.ts"
import * as RedisConnection from "../../src/gateway/RedisConnection.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { eventually, testConfig } from "./fixtures.ts"
import * as RedisServer from "./redisServer.ts"

/** Presence TTL 3 s: a refresh every second. */
const PRESENCE_TTL_MS = 3_000
const NODE = "node-under-test"

const setup = Effect.gen(function*() {
  const redis = yield* RedisServer.start()
  const services = yield* Layer.build(
    RedisCluster.layer({ nodeId: NODE, keyPrefix: "aiconexus", presenceTtlMs: PRESENCE_TTL_MS }).pipe(
      Layer.provide(RedisConnection.layer(testConfig(), redis.url))
    )
  )
  return { registry: Context.get(services, AgentRegistry), router: Context.get(services, Router), store: yield* RedisServer.client(redis) }
})

const entryOf = (identity: Identity.Identity): AgentEntry => ({
  did: identity.did,
  capabilities: [],
  unlisted: false,
  connectedAt: new Date().toISOString(),
  sessionId: crypto.randomUUID()
})

const agentKey = (did: string) => `{aiconexus}:agent:${did}`

describe("cluster presence refresh", () => {
  it.live("keeps the entries of more agents than one round trip claims alive past the presence TTL", () =>
    Effect.gen(function*() {
      const { registry, store } = yield* setup
      const entries = (yield* Effect.forEach(Array.from({ length: 600 }), () => Identity.generate)).map(entryOf)
      yield* Effect.forEach(entries, (entry) => registry.register(entry), { concurrency: 20, discard: true })
      yield* Effect.sleep(PRESENCE_TTL_MS + 1_000)
      // Past the TTL every entry is still there, its TTL set anew by a refresh (one per second).
      const ttls = yield* Effect.promise(() => Promise.all(entries.map((entry) => store.pTTL(agentKey(entry.did)))))
      assert.isTrue(ttls.every((ttl) => ttl > PRESENCE_TTL_MS / 3), `lowest TTL ${Math.min(...ttls)} ms`)
      assert.strictEqual((yield* registry.count), 600)
    }).pipe(Effect.scoped), 60_000)

  it.live("replaces a local session whose DID a newer registration holds, and re-publishes an entry the store lost", () =>
    Effect.gen(function*() {
      const { registry, router, store } = yield* setup
      const alice = entryOf(yield* Identity.generate)
      const bob = entryOf(yield* Identity.generate)
      const aliceReplaced = yield* Deferred.make<void>()
      const bobReplaced = yield* Deferred.make<void>()
      for (const [entry, replaced] of [[alice, aliceReplaced], [bob, bobReplaced]] as const) {
        yield* registry.register(entry)
        yield* router.attach(entry.did, { sessionId: entry.sessionId, deliver: () => "delivered", replaced: Deferred.succeed(replaced, undefined) })
      }

      // A newer registration of Alice on another node (epoch 99); Bob's entry is lost.
      yield* Effect.promise(() => store.hSet(agentKey(alice.did), { epoch: "99", session: crypto.randomUUID(), node: "another-node" }))
      yield* Effect.promise(() => store.del(agentKey(bob.did)))

      yield* Deferred.await(aliceReplaced).pipe(Effect.timeout("5 seconds"))
      const republished = yield* eventually(Effect.promise(() => store.hGetAll(agentKey(bob.did))), (entry) => entry.session !== undefined, 10)
      assert.strictEqual(republished.session, bob.sessionId)
      assert.strictEqual(republished.node, NODE)
      assert.isFalse(yield* Deferred.isDone(bobReplaced))
    }).pipe(Effect.scoped), 60_000)
})
