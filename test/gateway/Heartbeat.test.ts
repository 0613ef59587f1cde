/**
 * The unsigned heartbeat of a registered session (PROTOCOL.md 4.3): answered with the constant
 * HEARTBEAT_ACK, it keeps the session alive; before registration, malformed, oversized or over
 * the session's rate it is refused like any other frame, and a refused one is no activity.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { TestClock } from "effect/testing"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const { defaults } = GatewayConfig

// Gateways built inside the test: with `it.effect` their timers run on the TestClock.
const withGateway = <A, E, R>(effect: Effect.Effect<A, E, R | Gateway.Gateway>, overrides: Partial<GatewayConfig.GatewayConfig> = {}) =>
  Effect.flatMap(Layer.build(Gateway.layerMemory(testConfig(overrides))), (context) => Effect.provideContext(effect, context))

/** Lets the gateway's fibers run after the clock moved. */
const settle = Effect.forEach(Array.from({ length: 20 }), () => Effect.yieldNow, { discard: true })

const metrics = (gateway: Gateway.Gateway["Service"]) => Effect.promise(() => fetch(`${gateway.httpUrl}/metrics`).then((response) => response.text()))
const sample = (text: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(text)?.[1] ?? "0")

describe("gateway heartbeat", () => {
  it.effect("answers HEARTBEAT with HEARTBEAT_ACK and keeps the session past the session timeout; a silent one is closed (TestClock)", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a: quietSocket, alice: quiet, b: beating, bob } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      // Four default intervals of heartbeats (longer than the session timeout), in both spellings the Schema accepts.
      assert.isAbove(4 * defaults.heartbeatIntervalMs, defaults.sessionTimeoutMs)
      for (const frame of [Heartbeat.FRAME, `{ "type" : "HEARTBEAT" }`, Heartbeat.FRAME, Heartbeat.FRAME]) {
        yield* TestClock.adjust(defaults.heartbeatIntervalMs)
        yield* beating.send(frame)
        assert.strictEqual(yield* beating.next(), Heartbeat.ACK_FRAME)
      }
      assert.strictEqual((yield* quietSocket.closed).code, 4004)
      // The beating agent is still registered and reachable; the quiet one is gone.
      const bye = yield* Envelope.make(bob, { type: "BYE", to: quiet.did, payload: { connection_id: crypto.randomUUID() } })
      yield* beating.send(Envelope.encode(bye))
      assert.strictEqual((yield* beating.nextOfType("ERROR")).payload.code, "UNKNOWN_AGENT")
      const stranger = yield* RawClient.connect(gateway.url)
      const { answer } = yield* RawClient.register(stranger, yield* Identity.generate, gateway.did, gateway.url)
      assert.strictEqual(answer.type, "REGISTERED")
      assert.strictEqual(sample(yield* metrics(gateway), "aiconexus_gateway_heartbeats_total"), 4)
    })))

  it.effect("a refused heartbeat is no activity: malformed ones every quarter of the session timeout do not keep a session (TestClock)", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      const quarter = defaults.sessionTimeoutMs / 4
      for (let i = 0; i < 3; i++) {
        yield* TestClock.adjust(quarter)
        yield* a.send(`{"type":"HEARTBEAT","n":${i}}`)
        assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE")
      }
      // One second past the session timeout after registration, nothing accepted since.
      yield* TestClock.adjust(quarter + 1000)
      yield* settle
      assert.strictEqual((yield* a.closed).code, 4004)
    })))

  it.live("refuses a heartbeat before registration with ERROR UNAUTHORIZED (counted as rejected) and closes with 4002", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const before = sample(yield* metrics(gateway), `aiconexus_gateway_frames_rejected_total{code="UNAUTHORIZED"}`)
      const client = yield* RawClient.connect(gateway.url)
      yield* client.nextOfType("CHALLENGE")
      yield* client.send(Heartbeat.FRAME)
      const error = yield* client.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "UNAUTHORIZED")
      assert.include(error.payload.message, "heartbeat before registration")
      assert.isTrue(yield* Envelope.verify(error))
      assert.strictEqual((yield* client.closed).code, 4002)
      assert.strictEqual(sample(yield* metrics(gateway), `aiconexus_gateway_frames_rejected_total{code="UNAUTHORIZED"}`), before + 1)
      assert.strictEqual(sample(yield* metrics(gateway), "aiconexus_gateway_heartbeats_total"), 0)
    })))

  it.live("refuses malformed and oversized heartbeats with MALFORMED_MESSAGE, counted, and keeps the session", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      const before = sample(yield* metrics(gateway), `aiconexus_gateway_frames_rejected_total{code="MALFORMED_MESSAGE"}`)
      const short = [`{"type":"HEARTBEAT","extra":1}`, Heartbeat.ACK_FRAME, `{"type":"heartbeat"}`, `HEARTBEAT`, `{"type":"HEARTBEAT","type":"HEARTBEAT"}`]
      for (const frame of short) {
        yield* a.send(frame)
        const error = yield* a.nextOfType("ERROR")
        assert.strictEqual(error.payload.code, "MALFORMED_MESSAGE", frame)
        assert.include(error.payload.message, "not a heartbeat", frame)
      }
      // Past MAX_CHARS a frame is read as an envelope, and a padded heartbeat is none.
      const oversized = [`{"type":"HEARTBEAT"}${" ".repeat(Heartbeat.MAX_CHARS)}`, `{"type":"HEARTBEAT","pad":"${"x".repeat(Heartbeat.MAX_CHARS)}"}`]
      for (const frame of oversized) {
        yield* a.send(frame)
        assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE", frame)
      }
      // Still registered: the next heartbeat is answered.
      yield* a.send(Heartbeat.FRAME)
      assert.strictEqual(yield* a.next(), Heartbeat.ACK_FRAME)
      const after = sample(yield* metrics(gateway), `aiconexus_gateway_frames_rejected_total{code="MALFORMED_MESSAGE"}`)
      assert.strictEqual(after - before, short.length + oversized.length)
    })))

  it.live("heartbeats count against the session's frame rate like any frame", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      for (let i = 0; i < 6; i++) yield* a.send(Heartbeat.FRAME)
      const answers: Array<string> = []
      for (let i = 0; i < 6; i++) {
        const frame = yield* a.next()
        answers.push(frame === Heartbeat.ACK_FRAME ? "ack" : (JSON.parse(frame) as Envelope.Envelope<"ERROR">).payload.code)
      }
      // A burst of 4 and no refill to speak of: four heartbeats are answered, the rest refused.
      assert.deepStrictEqual(answers, ["ack", "ack", "ack", "ack", "RATE_LIMITED", "RATE_LIMITED"])
    }), { sessionRate: { perSecond: 0.001, burst: 4 } }))

  it.live("still answers the signed PING of older clients with a signed PONG", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a, alice } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 3 } })
      yield* a.send(Envelope.encode(ping))
      const pong = yield* a.nextOfType("PONG")
      assert.strictEqual(pong.correlation_id, ping.id)
      assert.deepStrictEqual(pong.payload, { sequence: 3 })
      assert.isTrue(yield* Envelope.verify(pong))
    })))

  it.live("limits signed PINGs to their own rate, refused before their signature is checked; heartbeat frames are not held by it", () =>
    withGateway(Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a, alice } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      for (let i = 0; i < 2; i++) {
        yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: i } })))
        assert.strictEqual((yield* a.nextOfType("PONG")).payload.sequence, i)
      }
      // Over the rate and with a broken signature: the rate decides, the signature is never looked at.
      const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 2 } })
      const forged = { ...ping, signature: `${ping.signature.slice(0, -4)}AAAA` }
      yield* a.send(Envelope.encode(forged as Envelope.Envelope))
      const refused = yield* a.nextOfType("ERROR")
      assert.strictEqual(refused.correlation_id, ping.id)
      assert.strictEqual(refused.payload.code, "RATE_LIMITED")
      yield* a.send(Heartbeat.FRAME)
      assert.strictEqual(yield* a.next(), Heartbeat.ACK_FRAME)
    }), { pingRate: { perSecond: 0.001, burst: 2 } }))
})
