/**
 * Browser agents in real Chromium (Debian's `chromium`, driven by playwright-core) with Node agents
 * on node-datachannel and werift, and with each other, through a gateway on loopback: register,
 * discover, connect (each side offering), INTENT, request/response and a 1 MiB framed payload.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { call, harnessPage, launch, nodeAgent } from "./chromium.ts"
import { browserSide, exercise, nodeSide } from "./sides.ts"

const startGateway = Effect.map(Layer.build(Gateway.layerMemory(testConfig())), (context) => Context.get(context, Gateway.Gateway))

describe("a browser agent in Chromium", () => {
  it.live.each(realTransports)("with a Node agent on %s, each side offering", ([name, transport]) =>
    Effect.gen(function*() {
      const gateway = yield* startGateway
      const scope = yield* Effect.scope
      const node = nodeSide(yield* nodeAgent(gateway.url, transport, name), name, scope)
      const { page } = yield* harnessPage(yield* launch)
      const offering = browserSide(page, "offering", yield* call(page, "start", "offering", { url: gateway.url }))
      const answering = browserSide(page, "answering", yield* call(page, "start", "answering", { url: gateway.url }))
      assert.notStrictEqual(offering.did, answering.did)
      yield* exercise(offering, node)
      yield* exercise(node, answering)
    }).pipe(Effect.scoped), { timeout: 90_000 })

  it.live("a 20 MiB message to a node-datachannel agent and back: over Chromium's 16 MiB send buffer, which backpressure keeps it under", () =>
    Effect.gen(function*() {
      const gateway = yield* startGateway
      const node = yield* nodeAgent(gateway.url, realTransports[0]![1])
      const { page } = yield* harnessPage(yield* launch)
      yield* call(page, "start", "a", { url: gateway.url })
      yield* call(page, "connect", "a", node.agent.did)
      // Chromium closes a data channel whose buffered amount passes 16 MiB; a framed message is
      // sent fragment by fragment, each waiting while more than 1 MiB is buffered.
      const bulk = yield* call(page, "bulk", "a", node.agent.did, 20 * 1024 * 1024)
      assert.isTrue(bulk.same)
      assert.strictEqual(bulk.fragmentBytes, 256 * 1024)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("with another browser agent (two pages)", () =>
    Effect.gen(function*() {
      const gateway = yield* startGateway
      const browser = yield* launch
      const first = yield* harnessPage(browser)
      const second = yield* harnessPage(browser)
      const alice = browserSide(first.page, "alice", yield* call(first.page, "start", "alice", { url: gateway.url }))
      const bob = browserSide(second.page, "bob", yield* call(second.page, "start", "bob", { url: gateway.url }))
      yield* exercise(alice, bob)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
