import { assert, describe, it, layer } from "@effect/vitest"
import { Effect, Layer } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const registered = Effect.gen(function*() {
  const gateway = yield* Gateway.Gateway
  const identity = yield* Identity.generate
  const client = yield* RawClient.connect(gateway.url)
  const { answer } = yield* RawClient.register(client, identity, gateway.did, gateway.url)
  assert.strictEqual(answer.type, "REGISTERED")
  return { gateway, identity, client }
})

const bye = (from: Identity.Identity, to: Identity.Identity) =>
  Effect.map(Envelope.make(from, { type: "BYE", to: to.did, payload: { connection_id: crypto.randomUUID() } }), Envelope.encode)

layer(
  Gateway.layerMemory(testConfig({ sessionRate: { perSecond: 0.001, burst: 5 }, maxRateLimitStrikes: 3 })),
  { excludeTestServices: true }
)("gateway session rate limit", (it) => {
  it.effect("answers RATE_LIMITED past the session rate, then closes with 4003 when it goes on", () =>
    Effect.gen(function*() {
      const a = yield* registered
      const b = yield* registered
      for (let i = 0; i < 5; i++) yield* a.client.send(yield* bye(a.identity, b.identity))
      for (let i = 0; i < 5; i++) yield* b.client.next()
      for (let i = 0; i < 4; i++) yield* a.client.send(yield* bye(a.identity, b.identity))
      const codes: Array<string> = []
      for (let i = 0; i < 4; i++) codes.push((yield* a.client.nextOfType("ERROR")).payload.code)
      assert.deepStrictEqual(codes, ["RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED", "RATE_LIMITED"])
      assert.strictEqual((yield* a.client.closed).code, 4003)
    }))
})

layer(Gateway.layerMemory(testConfig({ maxRejectedFrames: 3 })), { excludeTestServices: true })("gateway rejected frames", (it) => {
  it.effect("closes a session that keeps sending rejected frames with 4000", () =>
    Effect.gen(function*() {
      const { client } = yield* registered
      for (let i = 0; i < 4; i++) yield* client.send(`junk ${i}`)
      for (let i = 0; i < 4; i++) assert.strictEqual((yield* client.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE")
      assert.strictEqual((yield* client.closed).code, 4000)
    }))
})

layer(
  Gateway.layerMemory(testConfig({ destinationRate: { perSecond: 0.001, burst: 3 }, sessionRate: { perSecond: 1000, burst: 1000 } })),
  { excludeTestServices: true }
)("gateway per-destination rate", (it) => {
  it.effect("limits the frames relayed to one agent, whoever sends them", () =>
    Effect.gen(function*() {
      const target = yield* registered
      const first = yield* registered
      const second = yield* registered
      yield* first.client.send(yield* bye(first.identity, target.identity))
      yield* first.client.send(yield* bye(first.identity, target.identity))
      yield* second.client.send(yield* bye(second.identity, target.identity))
      for (let i = 0; i < 3; i++) yield* target.client.next()
      const over = yield* Envelope.make(second.identity, { type: "BYE", to: target.identity.did, payload: { connection_id: crypto.randomUUID() } })
      yield* second.client.send(Envelope.encode(over))
      const error = yield* second.client.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "RATE_LIMITED")
      assert.strictEqual(error.correlation_id, over.id)
      assert.deepStrictEqual(error.payload.details, { destination: "rate_limited" })
      // Another destination is unaffected.
      yield* second.client.send(yield* bye(second.identity, first.identity))
      assert.strictEqual(JSON.parse(yield* first.client.next()).type, "BYE")
    }))
})

layer(
  Gateway.layerMemory(testConfig({ maxOutboundBufferBytes: 256 * 1024, sessionRate: { perSecond: 10_000, burst: 10_000 }, destinationRate: { perSecond: 10_000, burst: 10_000 } })),
  { excludeTestServices: true }
)("gateway slow receiver", (it) => {
  it.effect("refuses frames for an agent that does not read once its queue is full, instead of buffering without bound", () =>
    Effect.gen(function*() {
      const sender = yield* registered
      const sleeper = yield* registered
      sleeper.client.socket.pause()
      const sdp = "v=0\r\n" + "a=x:".padEnd(30_000, "y") + "\r\n"
      const offer = (i: number) =>
        Effect.map(
          Envelope.make(sender.identity, { type: "OFFER", to: sleeper.identity.did, payload: { connection_id: crypto.randomUUID(), sdp: sdp + i } }),
          Envelope.encode
        )
      let refused: Envelope.Envelope<"ERROR"> | undefined
      // 30 KB frames: the loopback socket buffers absorb a few MB before the gateway's queue grows.
      for (let i = 0; i < 1000 && refused === undefined; i++) {
        yield* sender.client.send(yield* offer(i))
        if (i % 20 === 19) {
          const answer = yield* sender.client.nextOfType("ERROR", 300).pipe(Effect.orElseSucceed(() => undefined))
          if (answer !== undefined) refused = answer
        }
      }
      assert.isDefined(refused)
      assert.strictEqual(refused!.payload.code, "RATE_LIMITED")
      assert.deepStrictEqual(refused!.payload.details, { destination: "congested" })
    }))
})

layer(Gateway.layerMemory(testConfig({ maxSessions: 2 })), { excludeTestServices: true })("gateway session cap", (it) => {
  it.effect("answers 503 before the upgrade once the node holds its maximum of sessions", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      yield* RawClient.connect(gateway.url)
      const second = yield* RawClient.connect(gateway.url)
      const refused = yield* Effect.flip(RawClient.connect(gateway.url))
      assert.strictEqual(refused.status, 503)
      yield* second.close
      yield* second.closed
      // A slot frees when a session ends.
      yield* Effect.sleep("50 millis")
      yield* RawClient.connect(gateway.url)
    }))
})

layer(
  Gateway.layerMemory(testConfig({ maxConnectionsPerIp: 2, trustedProxies: ["127.0.0.1"] })),
  { excludeTestServices: true }
)("gateway per-IP connections", (it) => {
  it.effect("answers 429 past the per-IP connection limit; X-Forwarded-For counts only from a trusted proxy", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const from = (ip: string) => ({ headers: { "x-forwarded-for": ip } })
      yield* RawClient.connect(gateway.url, from("203.0.113.1"))
      yield* RawClient.connect(gateway.url, from("203.0.113.1"))
      assert.strictEqual((yield* Effect.flip(RawClient.connect(gateway.url, from("203.0.113.1")))).status, 429)
      // Another client behind the same (trusted) proxy is counted on its own.
      yield* RawClient.connect(gateway.url, from("203.0.113.2"))
      // A spoofed chain: only the rightmost untrusted hop counts.
      assert.strictEqual((yield* Effect.flip(RawClient.connect(gateway.url, from("198.51.100.9, 203.0.113.1")))).status, 429)
    }))
})

layer(
  Gateway.layerMemory(testConfig({ handshakeRatePerIp: { perSecond: 0.001, burst: 3 } })),
  { excludeTestServices: true }
)("gateway per-IP handshake rate", (it) => {
  it.effect("answers 429 past the per-IP handshake rate, and ignores X-Forwarded-For from untrusted peers", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      for (let i = 0; i < 3; i++) {
        const client = yield* RawClient.connect(gateway.url, { headers: { "x-forwarded-for": `203.0.113.${i}` } })
        yield* client.close
      }
      assert.strictEqual((yield* Effect.flip(RawClient.connect(gateway.url))).status, 429)
    }))
})

layer(
  Gateway.layerMemory(testConfig({ abuseClosesPerIp: { perSecond: 0.001, burst: 2 }, maxRejectedFrames: 0 })),
  { excludeTestServices: true }
)("gateway abuse closes per IP", (it) => {
  it.effect("refuses upgrades (429) from an address whose sessions were closed for abuse past its allowance, not for normal closes", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      // Sessions that end normally cost the address nothing.
      for (let i = 0; i < 3; i++) {
        const { client } = yield* registered
        yield* client.close
        yield* client.closed
      }
      // Two sessions closed for a refused frame each (the allowance: 2); each still gets its close code.
      for (let i = 0; i < 2; i++) {
        const { client } = yield* registered
        yield* client.send("junk")
        assert.strictEqual((yield* client.closed).code, 4000)
      }
      assert.strictEqual((yield* Effect.flip(RawClient.connect(gateway.url))).status, 429)
    }))
})

describe("gateway configuration", () => {
  it.effect("refuses a session timeout that is not over twice the heartbeat interval", () =>
    Effect.gen(function*() {
      const error = yield* Effect.flip(Layer.build(Gateway.layerMemory(testConfig({ heartbeatIntervalMs: 30_000, sessionTimeoutMs: 60_000 }))))
      assert.strictEqual(error._tag, "InvalidGatewayConfig")
    }))
})

layer(
  Gateway.layerMemory(testConfig({ sessionRate: { perSecond: 0.001, burst: 5 }, maxRateLimitStrikes: 100 })),
  { excludeTestServices: true }
)("gateway rates by DID", (it) => {
  it.effect("reconnecting does not refill a DID's burst", () =>
    Effect.gen(function*() {
      const first = yield* registered
      const peer = yield* registered
      for (let i = 0; i < 5; i++) yield* first.client.send(yield* bye(first.identity, peer.identity))
      for (let i = 0; i < 5; i++) yield* peer.client.next()
      // The same DID on a new connection (the old one is replaced).
      const again = yield* RawClient.connect(first.gateway.url)
      yield* RawClient.register(again, first.identity, first.gateway.did, first.gateway.url)
      yield* again.send(yield* bye(first.identity, peer.identity))
      assert.strictEqual((yield* again.nextOfType("ERROR")).payload.code, "RATE_LIMITED")
    }))
})

layer(Gateway.layerMemory(testConfig({ maxRejectedFrames: 10_000 })), { excludeTestServices: true })("gateway error replies", (it) => {
  it.effect("a flood of junk gets a bounded number of (signed) ERROR replies, and the session is still served", () =>
    Effect.gen(function*() {
      const { client, gateway, identity } = yield* registered
      // 150 frames: within the session burst (200), far over the ERROR reply burst (40).
      for (let i = 0; i < 150; i++) yield* client.send(`junk ${i}`)
      yield* client.send(Envelope.encode(yield* Envelope.make(identity, { type: "PING", to: gateway.did, payload: { sequence: 1 } })))
      let errors = 0
      while (true) {
        const envelope = yield* client.nextEnvelope()
        if (envelope.type === "PONG") break
        if (envelope.type === "ERROR") errors++
      }
      assert.isAtLeast(errors, 1)
      assert.isAtMost(errors, 45)
    }))
})
