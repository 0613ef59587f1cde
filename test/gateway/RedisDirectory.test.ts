/**
 * The cluster directory's refresh of held entries on a real `redis-server`: it renews each agent's
 * presence TTL every time, and its epoch counter's day-long TTL only when asked (a node asks
 * hourly), so a presence refresh costs Redis one command less per agent.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Redis from "effect/persistence/Redis"
import type { AgentEntry } from "../../src/gateway/AgentRegistry.ts"
import * as RedisConnection from "../../src/gateway/RedisConnection.ts"
import * as RedisDirectory from "../../src/gateway/RedisDirectory.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RedisServer from "./redisServer.ts"

const DAY_MS = 24 * 60 * 60 * 1000

describe("the cluster directory in Redis", () => {
  it.live("a refresh of held entries renews their presence TTL, and their epoch counter's TTL only when asked", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.start()
      const services = yield* Layer.build(RedisConnection.layer(testConfig(), redis.url))
      const directory = RedisDirectory.make(Context.get(services, Redis.Redis), "aiconexus")
      const store = yield* RedisServer.client(redis)
      const identity = yield* Identity.generate
      const entry: AgentEntry = { did: identity.did, capabilities: [], unlisted: false, connectedAt: new Date().toISOString(), sessionId: crypto.randomUUID() }
      const { epoch } = yield* directory.register(entry, "node-a", 30_000, Date.now())
      const agentKey = `{aiconexus}:agent:${entry.did}`
      const epochKey = `{aiconexus}:epoch:${entry.did}`
      const ttls = () => Effect.promise(() => Promise.all([store.pTTL(agentKey), store.pTTL(epochKey)]))
      const [, registeredEpochTtl] = yield* ttls()
      assert.isAbove(registeredEpochTtl, DAY_MS - 60_000)

      // Both TTLs run low; a refresh that does not renew epochs renews the presence alone.
      yield* Effect.promise(() => Promise.all([store.pExpire(agentKey, 5_000), store.pExpire(epochKey, 5_000)]))
      const held = [{ did: entry.did, sessionId: entry.sessionId, epoch }]
      assert.deepStrictEqual(yield* directory.claimHeld(held, 30_000, Date.now(), false), ["refreshed"])
      const [agentTtl, epochTtl] = yield* ttls()
      assert.isAbove(agentTtl, 20_000)
      assert.isAtMost(epochTtl, 5_000)
      assert.isAbove(epochTtl, 0)

      // One that renews epochs sets the day-long TTL again.
      assert.deepStrictEqual(yield* directory.claimHeld(held, 30_000, Date.now(), true), ["refreshed"])
      const [, renewedEpochTtl] = yield* ttls()
      assert.isAbove(renewedEpochTtl, DAY_MS - 60_000)
    }).pipe(Effect.scoped), 60_000)
})
