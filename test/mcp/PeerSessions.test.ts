/**
 * The session pool of the MCP bridge over real agents: reuse, eviction of the least recently
 * used idle session when full, TOO_MANY_SESSIONS when every session is busy, idle close.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import { PeerSessions } from "../../src/mcp/PeerSessions.ts"
import { agent, eventually, gateway } from "./fixtures.ts"

/** An agent serving `echo` and `hold` (which waits for `release`), counting the sessions it accepts and those ended. */
const peer = (url: string, release: Deferred.Deferred<void>) =>
  Effect.gen(function*() {
    const served = yield* agent(url, {
      serve: [
        { capability: { id: "echo" }, handler: (args) => Effect.succeed(args) },
        { capability: { id: "hold" }, handler: () => Effect.as(Deferred.await(release), "released") }
      ]
    })
    const counts = { accepted: 0, ended: 0 }
    yield* Effect.forkChild(served.sessions.pipe(Stream.runForEach((session) =>
      Effect.andThen(Effect.sync(() => counts.accepted++), Effect.forkChild(Effect.andThen(session.ended, Effect.sync(() => counts.ended++))))
    )))
    return { agent: served, counts }
  })

const pool = (caller: Agent["Service"], config: { idleMs: number; maxSessions: number }) =>
  Effect.map(Layer.build(PeerSessions.layer(config).pipe(Layer.provide(Layer.succeed(Agent, caller)))), (context) => Context.get(context, PeerSessions))

describe("PeerSessions", () => {
  it.live("reuses a session, evicts the least recently used idle one, refuses when all are busy, closes idle ones", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const release = yield* Deferred.make<void>()
      const bob = yield* peer(url, release)
      const carol = yield* peer(url, release)
      const alice = yield* agent(url)
      const sessions = yield* pool(alice, { idleMs: 60_000, maxSessions: 1 })

      for (let i = 0; i < 3; i++) {
        assert.deepStrictEqual(yield* sessions.use(bob.agent.did, (s) => s.request("echo", { i })), { i })
      }
      // (a session is counted once bob's sessions Stream hands it over, a moment after it answers)
      yield* eventually(() => bob.counts.accepted > 0 ? true : undefined, "bob's session")
      yield* Effect.sleep("100 millis")
      assert.strictEqual(bob.counts.accepted, 1)
      // Full: bob's idle session makes room for carol's.
      yield* sessions.use(carol.agent.did, (s) => s.request("echo", {}))
      yield* eventually(() => bob.counts.ended === 1 ? true : undefined, "bob's session to close")
      assert.deepStrictEqual(yield* sessions.open, [carol.agent.did])
      // Full and busy: a call to another peer is refused, typed.
      const holding = yield* Effect.forkChild(sessions.use(carol.agent.did, (s) => s.request("hold", {})))
      yield* Effect.sleep("200 millis")
      const refused = yield* Effect.flip(sessions.use(bob.agent.did, (s) => s.request("echo", {})))
      assert.strictEqual(refused._tag, "TooManySessions")
      yield* Deferred.succeed(release, undefined)
      assert.strictEqual(yield* Fiber.join(holding), "released")

      // Idle close.
      const quick = yield* pool(alice, { idleMs: 300, maxSessions: 4 })
      yield* quick.use(bob.agent.did, (s) => s.request("echo", {}))
      yield* eventually(() => bob.counts.ended === 2 ? true : undefined, "the idle session to close")
      assert.deepStrictEqual(yield* quick.open, [])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
