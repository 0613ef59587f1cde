import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const agent = (payload: Partial<Envelope.Payload<"REGISTER">>) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway.Gateway
    const identity = yield* Identity.generate
    const client = yield* RawClient.connect(gateway.url)
    const { answer } = yield* RawClient.register(client, identity, gateway.did, gateway.url, payload)
    assert.strictEqual(answer.type, "REGISTERED")
    return { identity, client }
  })

const discover = (caller: { identity: Identity.Identity; client: RawClient.RawClient }, payload: Envelope.Payload<"DISCOVER">) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway.Gateway
    const request = yield* Envelope.make(caller.identity, { type: "DISCOVER", to: gateway.did, payload })
    yield* caller.client.send(Envelope.encode(request))
    const answer = yield* caller.client.nextEnvelope()
    assert.strictEqual(answer.correlation_id, request.id)
    return answer
  })

const dids = (peers: Envelope.Envelope) => (peers as Envelope.Envelope<"PEERS">).payload.agents.map((entry) => entry.did)

// A generous DISCOVER rate for this suite; the rate limit has its own test.
layer(Gateway.layerMemory(testConfig({ discoverRate: { perSecond: 100, burst: 100 } })), { excludeTestServices: true })("gateway discovery", (it) => {
  it.effect("filters by capability, by tag and by both on the same capability; never lists the caller or unlisted agents", () =>
    Effect.gen(function*() {
      const translator = yield* agent({ name: "t", capabilities: [{ id: "translate", tags: ["nlp"] }] })
      const summarizer = yield* agent({ capabilities: [{ id: "summarize", tags: ["nlp", "text"] }] })
      const mixed = yield* agent({ capabilities: [{ id: "translate", tags: ["vision"] }, { id: "ocr", tags: ["nlp"] }] })
      const hidden = yield* agent({ unlisted: true, capabilities: [{ id: "translate", tags: ["nlp"] }] })
      const caller = yield* agent({ capabilities: [{ id: "translate", tags: ["nlp"] }] })
      const sorted = (list: Array<string>) => [...list].sort()

      const byCapability = yield* discover(caller, { capability: "translate" })
      assert.strictEqual(byCapability.type, "PEERS")
      assert.isTrue(yield* Envelope.verify(byCapability))
      assert.deepStrictEqual(dids(byCapability), sorted([translator.identity.did, mixed.identity.did]))
      const entry = (byCapability as Envelope.Envelope<"PEERS">).payload.agents.find((e) => e.did === translator.identity.did)!
      assert.strictEqual(entry.name, "t")
      assert.deepStrictEqual(entry.capabilities, [{ id: "translate", tags: ["nlp"] }])
      assert.match(entry.connected_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/)

      const byTag = yield* discover(caller, { tag: "nlp" })
      assert.deepStrictEqual(dids(byTag), sorted([translator.identity.did, summarizer.identity.did, mixed.identity.did]))
      // "translate" with tag "nlp" on the same capability: not `mixed` (its nlp tag is on ocr).
      const both = yield* discover(caller, { capability: "translate", tag: "nlp" })
      assert.deepStrictEqual(dids(both), [translator.identity.did])
      for (const page of [byCapability, byTag, both]) {
        assert.notInclude(dids(page), caller.identity.did)
        assert.notInclude(dids(page), hidden.identity.did)
      }
    }))

  it.effect("pages with a cursor, in DID order, without repeats or gaps", () =>
    Effect.gen(function*() {
      const members = yield* Effect.forEach(Array.from({ length: 7 }), () => agent({ capabilities: [{ id: "paged" }] }))
      const caller = yield* agent({})
      const seen: Array<string> = []
      let cursor: string | undefined
      let pages = 0
      do {
        const page = (yield* discover(caller, { capability: "paged", limit: 3, ...(cursor === undefined ? {} : { cursor }) })) as Envelope.Envelope<"PEERS">
        assert.isAtMost(page.payload.agents.length, 3)
        seen.push(...page.payload.agents.map((e) => e.did))
        cursor = page.payload.next_cursor
        pages++
      } while (cursor !== undefined)
      assert.strictEqual(pages, 3)
      assert.deepStrictEqual(seen, members.map((m) => m.identity.did).sort())
    }))

  it.effect("keeps a PEERS envelope within max_message_bytes: fewer entries and a cursor", () =>
    Effect.gen(function*() {
      const big = (i: number) => ({ id: `big-${i}`, description: "d".repeat(1000), tags: ["huge"] })
      // Each REGISTER stays under the 16 KiB handshake limit; together they exceed 64 KiB.
      yield* Effect.forEach(Array.from({ length: 6 }), () => agent({ capabilities: Array.from({ length: 12 }, (_, i) => big(i)) }))
      const caller = yield* agent({})
      const page = (yield* discover(caller, { tag: "huge", limit: 100 })) as Envelope.Envelope<"PEERS">
      assert.isBelow(Envelope.encode(page).length, 64 * 1024)
      assert.isBelow(page.payload.agents.length, 6)
      assert.isAbove(page.payload.agents.length, 0)
      assert.isDefined(page.payload.next_cursor)
    }))

  it.effect("answers an unknown cursor with MALFORMED_MESSAGE", () =>
    Effect.gen(function*() {
      const caller = yield* agent({})
      const answer = yield* discover(caller, { cursor: "made-up" })
      assert.strictEqual((answer as Envelope.Envelope<"ERROR">).payload.code, "MALFORMED_MESSAGE")
    }))
})

layer(Gateway.layerMemory(testConfig({ discoverRate: { perSecond: 0.001, burst: 2 } })), { excludeTestServices: true })("gateway discovery rate", (it) => {
  it.effect("limits DISCOVER more strictly than other frames", () =>
    Effect.gen(function*() {
      const caller = yield* agent({})
      assert.strictEqual((yield* discover(caller, {})).type, "PEERS")
      assert.strictEqual((yield* discover(caller, {})).type, "PEERS")
      const limited = yield* discover(caller, {})
      assert.strictEqual((limited as Envelope.Envelope<"ERROR">).payload.code, "RATE_LIMITED")
      // PING is still answered.
      const gateway = yield* Gateway.Gateway
      yield* caller.client.send(Envelope.encode(yield* Envelope.make(caller.identity, { type: "PING", to: gateway.did, payload: {} })))
      assert.strictEqual((yield* caller.client.nextEnvelope()).type, "PONG")
    }))

  it.effect("refuses a DISCOVER over its rate before checking its signature (a scraper buys no verification)", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const caller = yield* agent({})
      assert.strictEqual((yield* discover(caller, {})).type, "PEERS")
      assert.strictEqual((yield* discover(caller, {})).type, "PEERS")
      // Over the rate and with a broken signature: the rate decides, the signature is never looked at.
      const request = yield* Envelope.make(caller.identity, { type: "DISCOVER", to: gateway.did, payload: {} })
      const forged = { ...request, signature: `${request.signature.slice(0, -4)}AAAA` }
      yield* caller.client.send(Envelope.encode(forged as Envelope.Envelope))
      const answer = (yield* caller.client.nextEnvelope()) as Envelope.Envelope<"ERROR">
      assert.strictEqual(answer.type, "ERROR")
      assert.strictEqual(answer.correlation_id, request.id)
      assert.strictEqual(answer.payload.code, "RATE_LIMITED")
    }))
})
