/**
 * Done means: two agents registered at a real gateway connect through the Signaling service over
 * node-datachannel, over werift and across the two, and exchange text and binary both ways.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Gateway from "../../../src/gateway/Gateway.ts"
import { testConfig } from "../../gateway/fixtures.ts"
import { agentOnGateway, agentOnHub, connectPair, exchange, hub, realTransports } from "../fixtures.ts"

const pairs = realTransports.flatMap(([a, layerA]) => realTransports.map(([b, layerB]) => [`${a} → ${b}`, layerA, layerB] as const))

describe("agents at a real gateway", () => {
  it.live.each(pairs)("%s: connect through the gateway and exchange text and binary both ways", ([_name, layerA, layerB]) =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const alice = yield* agentOnGateway(gateway.url, layerA)
      const bob = yield* agentOnGateway(gateway.url, layerB)
      const { answerer, offerer } = yield* connectPair(alice, bob)
      assert.strictEqual(offerer.remote, bob.identity.did)
      assert.strictEqual(answerer.remote, alice.identity.did)
      yield* exchange(offerer, answerer)
      yield* offerer.close
      yield* answerer.ended
    }).pipe(Effect.scoped), { timeout: 30_000 })
})

describe("interop on in-memory signaling", () => {
  it.live.each(pairs.filter(([name]) => name.includes("werift") && name.includes("node-datachannel")))(
    "%s",
    ([_name, layerA, layerB]) =>
      Effect.gen(function*() {
        const signalingHub = yield* hub
        const alice = yield* agentOnHub(signalingHub, layerA)
        const bob = yield* agentOnHub(signalingHub, layerB)
        const { answerer, offerer } = yield* connectPair(alice, bob)
        yield* exchange(offerer, answerer)
      }).pipe(Effect.scoped),
    { timeout: 30_000 }
  )
})
