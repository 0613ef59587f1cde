import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const get = (url: string) =>
  Effect.promise(async () => {
    const response = await fetch(url)
    return { status: response.status, type: response.headers.get("content-type") ?? "", body: await response.text() }
  })

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway HTTP endpoints", (it) => {
  it.effect("/health reports status, agents and uptime", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const before = JSON.parse((yield* get(`${gateway.httpUrl}/health`)).body)
      const client = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url)
      const health = yield* get(`${gateway.httpUrl}/health`)
      assert.strictEqual(health.status, 200)
      const body = JSON.parse(health.body)
      assert.strictEqual(body.status, "ok")
      assert.strictEqual(body.agents, before.agents + 1)
      assert.isAtLeast(body.uptime_s, 0)
    }))

  it.effect("/agents lists registered agents with DISCOVER's filters (on by default on loopback)", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const identity = yield* Identity.generate
      const client = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(client, identity, gateway.did, gateway.url, { capabilities: [{ id: "http-listed", tags: ["t1"] }] })
      const hidden = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(hidden, yield* Identity.generate, gateway.did, gateway.url, { unlisted: true, capabilities: [{ id: "http-listed" }] })
      const listed = yield* get(`${gateway.httpUrl}/agents?capability=http-listed`)
      assert.strictEqual(listed.status, 200)
      assert.deepStrictEqual(JSON.parse(listed.body).agents.map((a: { did: string }) => a.did), [identity.did])
      assert.deepStrictEqual(JSON.parse((yield* get(`${gateway.httpUrl}/agents?tag=t1&limit=1`)).body).agents.length, 1)
      assert.strictEqual((yield* get(`${gateway.httpUrl}/agents?limit=0`)).status, 400)
      assert.strictEqual((yield* get(`${gateway.httpUrl}/agents?cursor=bogus`)).status, 400)
    }))

  it.effect("/metrics is Prometheus text with sessions, registrations, relays and rejections, and no DIDs", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const { a, alice, b, bob } = yield* RawClient.registeredPair(gateway.url, gateway.did)
      yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } })))
      yield* b.next()
      yield* a.send("garbage")
      yield* a.nextOfType("ERROR")
      const metrics = yield* get(`${gateway.httpUrl}/metrics`)
      assert.strictEqual(metrics.status, 200)
      assert.include(metrics.type, "text/plain")
      const text = metrics.body
      assert.match(text, /aiconexus_gateway_registrations_total\S* [1-9]/)
      assert.match(text, /aiconexus_gateway_frames_relayed_total\{type="BYE"\} [1-9]/)
      assert.match(text, /aiconexus_gateway_frames_rejected_total\{code="MALFORMED_MESSAGE"\} [1-9]/)
      assert.match(text, /aiconexus_gateway_sessions [1-9]/)
      assert.match(text, /aiconexus_gateway_relay_latency_seconds_bucket/)
      assert.notInclude(text, "did:key")
      assert.notInclude(text, "127.0.0.1")
    }))
})

layer(Gateway.layerMemory(testConfig({ agentsEndpoint: "off" })), { excludeTestServices: true })("gateway with /agents off", (it) => {
  it.effect("/agents answers 404 when disabled", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      assert.strictEqual((yield* get(`${gateway.httpUrl}/agents`)).status, 404)
    }))
})
