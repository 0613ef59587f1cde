import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

// These gateways are built inside the test, so their timers run on the TestClock.
const withGateway = <A, E, R>(effect: Effect.Effect<A, E, R | Gateway.Gateway>) =>
  Effect.flatMap(Layer.build(Gateway.layerMemory(testConfig())), (context) => Effect.provideContext(effect, context))

/** Lets the gateway's fibers run after the clock moved. */
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, { discard: true })

describe("gateway timeouts (TestClock)", () => {
  it.effect("closes a connection that does not REGISTER within the handshake timeout with TIMEOUT and 4002", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url)
      yield* client.nextOfType("CHALLENGE")
      yield* TestClock.adjust("4 seconds")
      yield* settle
      yield* TestClock.adjust("1 second")
      const error = yield* client.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "TIMEOUT")
      assert.strictEqual((yield* client.closed).code, 4002)
    })))

  it.effect("closes a silent session after session_timeout_ms with 4004 and removes it from the directory", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a: q, alice: quiet, b: c, bob: chatty } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      // The chatty agent pings every third of the session timeout; the quiet one says nothing.
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust(GatewayConfig.defaults.sessionTimeoutMs / 3)
        yield* c.send(Envelope.encode(yield* Envelope.make(chatty, { type: "PING", to: gateway.did, payload: { sequence: i } })))
        assert.strictEqual((yield* c.nextOfType("PONG")).payload.sequence, i)
      }
      yield* TestClock.adjust("1 second")
      assert.strictEqual((yield* q.closed).code, 4004)
      // The chatty one is still there and the quiet one is gone.
      const offer = yield* Envelope.make(chatty, { type: "BYE", to: quiet.did, payload: { connection_id: crypto.randomUUID() } })
      yield* c.send(Envelope.encode(offer))
      assert.strictEqual((yield* c.nextOfType("ERROR")).payload.code, "UNKNOWN_AGENT")
    })))
})
