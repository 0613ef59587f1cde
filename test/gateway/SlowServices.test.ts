import { assert, layer } from "@effect/vitest"
import { Effect, Latch, Layer, Schedule } from "effect"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

// A directory and a router that answer a moment later, as a store shared by a cluster would: a
// session must then wait for them, frame by frame, and keep its frames in order.
const later = <A>(effect: Effect.Effect<A>) => Effect.andThen(Effect.sleep("1 millis"), effect)

const slowRegistry = Layer.effect(
  AgentRegistry,
  Effect.map(AgentRegistry, (inner) =>
    AgentRegistry.of({
      ...inner,
      register: (entry) => later(inner.register(entry)),
      lookup: (did) => later(inner.lookup(did))
    }))
).pipe(Layer.provide(AgentRegistry.layerMemory))

const slowRouter = Layer.effect(
  Router,
  Effect.map(Router, (inner) => Router.of({ ...inner, route: (to, frame) => later(inner.route(to, frame)) }))
).pipe(Layer.provide(Router.layerMemory))

layer(
  Gateway.layer(testConfig()).pipe(Layer.provide(Layer.mergeAll(slowRegistry, slowRouter))),
  { excludeTestServices: true }
)("gateway on services that answer later", (it) => {
  it.effect("relays every frame once and in order, and answers errors and pings in the order of the frames", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a, alice, b, bob } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      const ids = Array.from({ length: 30 }, () => crypto.randomUUID())
      for (const connection_id of ids) {
        yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id } })))
      }
      const received: Array<string> = []
      for (let i = 0; i < ids.length; i++) {
        received.push((yield* b.nextOfType("BYE")).payload.connection_id)
      }
      assert.deepStrictEqual(received, ids)

      const stranger = yield* Identity.generate
      const lost = yield* Envelope.make(alice, { type: "BYE", to: stranger.did, payload: { connection_id: crypto.randomUUID() } })
      yield* a.send(Envelope.encode(lost))
      yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 7 } })))
      const error = yield* a.nextEnvelope()
      assert.strictEqual(error.type, "ERROR")
      assert.strictEqual((error as Envelope.Envelope<"ERROR">).payload.code, "UNKNOWN_AGENT")
      assert.strictEqual(error.correlation_id, lost.id)
      const pong = yield* a.nextEnvelope()
      assert.strictEqual(pong.type, "PONG")
      assert.strictEqual((pong as Envelope.Envelope<"PONG">).payload.sequence, 7)
    }))
})

// Registrations wait until the test opens the gate.
const gate = Latch.makeUnsafe(false)
const gatedRegistry = Layer.effect(
  AgentRegistry,
  Effect.map(AgentRegistry, (inner) => AgentRegistry.of({ ...inner, register: (entry) => Effect.andThen(gate.await, inner.register(entry)) }))
).pipe(Layer.provide(AgentRegistry.layerMemory))

const get = (url: string) => Effect.promise(() => fetch(url).then((response) => response.text()))

layer(
  Gateway.layer(testConfig()).pipe(Layer.provide(Layer.mergeAll(gatedRegistry, Router.layerMemory))),
  { excludeTestServices: true }
)("gateway on a directory that registers later", (it) => {
  it.effect("an agent that leaves while its registration is under way is not left in the directory", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const agent = yield* Identity.generate
      const client = yield* RawClient.connect(gateway.url)
      yield* RawClient.sendRegister(client, agent, gateway.did, gateway.url)
      yield* client.close
      yield* client.closed
      // The gateway saw the socket close (its session count is back to zero) before the directory answered.
      yield* get(`${gateway.httpUrl}/metrics`).pipe(
        Effect.repeat({ until: (text) => /aiconexus_gateway_sessions 0\b/.test(text), schedule: Schedule.spaced("10 millis") })
      )
      yield* gate.open
      // Once the registration went through, the session (already closed) left the directory.
      yield* get(`${gateway.httpUrl}/metrics`).pipe(
        Effect.repeat({ until: (text) => /aiconexus_gateway_registrations_total\S* 1\b/.test(text), schedule: Schedule.spaced("10 millis") })
      )
      assert.notInclude(yield* get(`${gateway.httpUrl}/agents`), agent.did)
    }))
})
