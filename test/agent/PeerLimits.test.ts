import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Option, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { agent } from "./fixtures.ts"

const gatewayUrl = Effect.map(Layer.build(Gateway.layerMemory(testConfig())), (context) => Context.get(context, Gateway.Gateway).url)

describe("Agent limits on hostile peers", () => {
  it.live("a peer over its concurrent requests is answered RATE_LIMITED; its requests run again once others end", () =>
    Effect.gen(function*() {
      const url = yield* gatewayUrl
      const release = yield* Deferred.make<void>()
      let started = 0
      const bob = yield* agent(url, {
        limits: { maxConcurrentRequestsPerPeer: 3 },
        serve: [{ capability: { id: "wait" }, handler: () => Effect.as(Effect.andThen(Effect.sync(() => started++), Deferred.await(release)), "done") }]
      })
      const alice = yield* agent(url)
      yield* Effect.forkChild(Stream.runDrain(bob.sessions))
      const session = yield* alice.connect(bob.did)
      const running = yield* Effect.forEach(Array.from({ length: 3 }), () => Effect.forkChild(session.request("wait", {})))
      while (started < 3) yield* Effect.sleep("10 millis")
      const refused = yield* Effect.flip(session.request("wait", {}))
      assert.strictEqual(refused.code, "RATE_LIMITED")
      assert.strictEqual(started, 3)
      yield* Deferred.succeed(release, undefined)
      for (const fiber of running) assert.strictEqual(yield* Fiber.join(fiber), "done")
      assert.strictEqual(yield* session.request("wait", {}), "done")
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("sessions over the per-peer limit, and over the total, are refused with a typed reason the caller sees", () =>
    Effect.gen(function*() {
      const url = yield* gatewayUrl
      const bob = yield* agent(url, { limits: { maxSessionsPerPeer: 2, maxSessions: 3 } })
      yield* Effect.forkChild(Stream.runDrain(bob.sessions))
      const alice = yield* agent(url)
      yield* alice.connect(bob.did)
      yield* alice.connect(bob.did)
      const third = yield* Effect.flip(alice.connect(bob.did))
      assert.strictEqual(third._tag, "ConnectionRefused")
      assert.deepStrictEqual([third._tag === "ConnectionRefused" && third.code], ["RATE_LIMITED"])
      assert.include(third.message, "too many sessions from this agent")
      // Another DID gets the last place of the total, then a third DID is refused.
      const carol = yield* agent(url)
      yield* carol.connect(bob.did)
      const dave = yield* agent(url)
      const refused = yield* Effect.flip(dave.connect(bob.did))
      assert.include(refused.message, "too many sessions (at most 3)")
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("sessions the application does not take are refused once the waiting ones reach the limit", () =>
    Effect.gen(function*() {
      const url = yield* gatewayUrl
      // Nobody reads bob.sessions.
      const bob = yield* agent(url, { limits: { maxWaitingSessions: 1 } })
      const alice = yield* agent(url)
      yield* alice.connect(bob.did)
      const refused = yield* Effect.flip(alice.connect(bob.did))
      assert.include(refused.message, "not taking sessions now")
      // Once it takes the waiting one, a new session is accepted.
      const taken = yield* bob.sessions.pipe(Stream.runHead)
      assert.isTrue(Option.isSome(taken))
      yield* alice.connect(bob.did)
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")), { timeout: 90_000 })

  it.live("a peer that floods INTENTs the application does not read gets the session closed; the Stream fails typed after what it held", () =>
    Effect.gen(function*() {
      const url = yield* gatewayUrl
      const bob = yield* agent(url, { limits: { maxPendingIntents: 5 } })
      const alice = yield* agent(url)
      const incoming = yield* Effect.forkChild(bob.sessions.pipe(Stream.runHead))
      const session = yield* alice.connect(bob.did)
      const bobs = Option.getOrThrow(yield* Fiber.join(incoming))
      for (let i = 0; i < 6; i++) yield* session.intent({ query: `intent ${i}` })
      // The session ends at both sides.
      yield* session.ended.pipe(Effect.timeout("20 seconds"))
      const read: Array<string> = []
      const failure = yield* bobs.intents.pipe(Stream.runForEach((intent) => Effect.sync(() => read.push(String(intent.query)))), Effect.flip)
      assert.deepStrictEqual(read, ["intent 0", "intent 1", "intent 2", "intent 3", "intent 4"])
      assert.deepStrictEqual({ tag: failure._tag, limit: failure.limit, max: failure.max }, { tag: "SessionOverloaded", limit: "intents", max: 5 })
    }).pipe(Effect.scoped, Effect.timeout("60 seconds")), { timeout: 90_000 })
})
