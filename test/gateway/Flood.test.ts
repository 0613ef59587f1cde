import { assert, layer } from "@effect/vitest"
import { Effect, Fiber } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const HONEST_MESSAGES = 40

/** Sends `frame()` as fast as the socket takes it, `count` times at most, until the socket closes. */
const blast = (client: RawClient.RawClient, frame: (i: number) => string | Uint8Array, count: number) =>
  Effect.gen(function*() {
    for (let i = 0; i < count && client.socket.readyState === 1; i++) {
      client.socket.send(frame(i))
      if (i % 50 === 49) yield* Effect.sleep("1 millis")
    }
  })

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway under a flood", (it) => {
  it.effect("honest agents keep exchanging every message while others flood valid, invalid and oversize frames", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const registeredClient = Effect.gen(function*() {
        const identity = yield* Identity.generate
        const client = yield* RawClient.connect(gateway.url)
        const { answer } = yield* RawClient.register(client, identity, gateway.did, gateway.url)
        assert.strictEqual(answer.type, "REGISTERED")
        return { identity, client }
      })
      const alice = yield* registeredClient
      const bob = yield* registeredClient
      const spammer = yield* registeredClient
      const junk = yield* registeredClient
      const giant = yield* registeredClient
      const stranger = yield* RawClient.connect(gateway.url)

      // Valid, signed frames to bob, far over the session rate.
      const validToBob = yield* Effect.forEach(
        Array.from({ length: 300 }),
        () => Effect.map(Envelope.make(spammer.identity, { type: "BYE", to: bob.identity.did, payload: { connection_id: crypto.randomUUID() } }), Envelope.encode)
      )
      const floods = yield* Effect.forkChild(Effect.all([
        blast(spammer.client, (i) => validToBob[i % validToBob.length]!, 5_000),
        blast(junk.client, (i) => i % 2 === 0 ? `{"not":"an envelope","i":${i}}` : new Uint8Array(64), 5_000),
        blast(giant.client, () => "x".repeat(200 * 1024), 50),
        blast(stranger, (i) => `{"type":"PING","i":${i}}`, 5_000)
      ], { concurrency: "unbounded" }))

      // The honest pair: alice and bob send each other messages at a modest pace.
      const exchange = (from: typeof alice, to: typeof alice) =>
        Effect.gen(function*() {
          for (let i = 0; i < HONEST_MESSAGES; i++) {
            const envelope = yield* Envelope.make(from.identity, {
              type: "ICE_CANDIDATE",
              to: to.identity.did,
              payload: { connection_id: crypto.randomUUID(), candidate: `candidate:${i} 1 udp 1 10.0.0.1 ${1000 + i} typ host`, sdp_mid: "0" }
            })
            yield* from.client.send(Envelope.encode(envelope))
            yield* Effect.sleep("20 millis")
          }
        })
      const received = (at: typeof alice, from: typeof alice) =>
        Effect.gen(function*() {
          const ports: Array<number> = []
          while (ports.length < HONEST_MESSAGES) {
            const envelope = JSON.parse(yield* at.client.next(10_000)) as Envelope.Envelope
            if (envelope.from === from.identity.did && envelope.type === "ICE_CANDIDATE") {
              ports.push(Number((envelope as Envelope.Envelope<"ICE_CANDIDATE">).payload.candidate.split(" ")[5]))
            }
          }
          return ports
        })
      const [, , atBob, atAlice] = yield* Effect.all([
        exchange(alice, bob),
        exchange(bob, alice),
        received(bob, alice),
        received(alice, bob)
      ], { concurrency: "unbounded" })
      const expected = Array.from({ length: HONEST_MESSAGES }, (_, i) => 1000 + i)
      assert.deepStrictEqual(atBob, expected)
      assert.deepStrictEqual(atAlice, expected)
      yield* Fiber.interrupt(floods)

      // The flooders were cut off: oversize → 1009, rejected junk → 4000, the rate → 4003.
      assert.strictEqual((yield* giant.client.closed).code, 1009)
      assert.strictEqual((yield* junk.client.closed).code, 4000)
      assert.strictEqual((yield* spammer.client.closed).code, 4003)
      assert.strictEqual((yield* stranger.closed).code, 4002)
      // And the gateway is still healthy.
      const health = yield* Effect.promise(() => fetch(`${gateway.httpUrl}/health`).then((r) => r.json()))
      assert.strictEqual(health.status, "ok")
    }), { timeout: 60_000 })
})
