import { assert, layer } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { SDP } from "../fixtures/samples.ts"
import { client } from "./fixtures.ts"
import { CurrentGateway } from "./gateways.ts"

layer(CurrentGateway.layer, { excludeTestServices: true })("GatewayClient against a real gateway", (it) => {
  it.effect("registers (state Connecting → Registered) with the ICE servers and session parameters", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const agent = yield* client({ urls: [gateway.url] })
      const session = yield* agent.session
      assert.strictEqual(session.gatewayDid, gateway.did)
      assert.strictEqual(session.url, gateway.url)
      assert.strictEqual(session.heartbeatIntervalMs, Heartbeat.DEFAULT_INTERVAL_MS)
      assert.strictEqual(session.sessionTimeoutMs, Heartbeat.DEFAULT_SESSION_TIMEOUT_MS)
      assert.deepStrictEqual(session.iceServers, [])
      const state = yield* agent.state
      assert.strictEqual(state._tag, "Registered")
    }))

  it.effect("discovers agents by capability", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const listed = yield* client({ urls: [gateway.url], capabilities: [{ id: "client-test-cap", tags: ["x"] }], name: "listed" })
      yield* listed.session
      const caller = yield* client({ urls: [gateway.url] })
      const page = yield* caller.discover({ capability: "client-test-cap" })
      assert.deepStrictEqual(page.agents.map((a) => a.did), [listed.did])
      assert.strictEqual(page.agents[0]!.name, "listed")
    }))

  it.effect("relays each signaling type to the other agent, verified", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const alice = yield* client({ urls: [gateway.url] })
      const bob = yield* client({ urls: [gateway.url] })
      yield* alice.session
      yield* bob.session
      const received = yield* bob.incoming.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("20 millis")
      const connection_id = crypto.randomUUID()
      const offerId = yield* alice.send(bob.did, "OFFER", { connection_id, sdp: SDP })
      yield* alice.send(bob.did, "ANSWER", { connection_id, sdp: SDP }, offerId)
      yield* alice.send(bob.did, "ICE_CANDIDATE", { connection_id, candidate: "candidate:1 1 udp 1 10.0.0.1 9 typ host", sdp_mid: "0" })
      yield* alice.send(bob.did, "BYE", { connection_id })
      const envelopes = [...(yield* Fiber.join(received))].map((accepted) => accepted.envelope)
      assert.deepStrictEqual(envelopes.map((e) => e.type), ["OFFER", "ANSWER", "ICE_CANDIDATE", "BYE"])
      assert.isTrue(envelopes.every((e) => e.from === alice.did && e.to === bob.did))
      assert.strictEqual(envelopes[1]!.correlation_id, offerId)
    }))

  it.effect("reports a frame to an unregistered DID as undelivered with UNKNOWN_AGENT, with its connection id", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const alice = yield* client({ urls: [gateway.url] })
      yield* alice.session
      const nobody = yield* Identity.generate
      const reports = yield* alice.undelivered.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("20 millis")
      const connection_id = crypto.randomUUID()
      const id = yield* alice.send(nobody.did, "OFFER", { connection_id, sdp: SDP })
      const [report] = yield* Fiber.join(reports)
      assert.deepStrictEqual(report, { id, to: nobody.did, type: "OFFER", connectionId: connection_id, code: "UNKNOWN_AGENT" })
    }))

  it.effect("SESSION_REPLACED is final: the replaced client closes with a typed error and sends fail", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const identity = yield* Identity.generate
      const first = yield* client({ urls: [gateway.url], identity })
      yield* first.session
      const second = yield* client({ urls: [gateway.url], identity })
      yield* second.session
      const closed = yield* first.changes.pipe(Stream.filter((s) => s._tag === "Closed"), Stream.runHead)
      const state = Option.getOrThrow(closed)
      assert.strictEqual(state._tag === "Closed" && state.error._tag, "SessionReplaced")
      const error = yield* Effect.flip(first.send(second.did, "BYE", { connection_id: crypto.randomUUID() }))
      assert.strictEqual(error._tag, "SessionReplaced")
      // The second stays registered.
      assert.strictEqual((yield* second.state)._tag, "Registered")
    }))

  it.effect("refuses a gateway whose DID differs from the configured one", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const other = yield* Identity.generate
      const agent = yield* client({ urls: [gateway.url], gatewayDid: other.did })
      const error = yield* Effect.flip(agent.session)
      assert.strictEqual(error._tag, "GatewayIdentityMismatch")
    }))

  it.effect("refuses ws:// to a host that is not loopback unless allowed", () =>
    Effect.gen(function*() {
      const agent = yield* client({ urls: ["ws://gateway.example:8787/ws"] })
      const error = yield* Effect.flip(agent.session)
      assert.strictEqual(error._tag, "InsecureGatewayUrl")
    }))

  it.effect("fails over to the next URL when the first does not answer", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const agent = yield* client({ urls: ["ws://127.0.0.1:9/ws", gateway.url] })
      const session = yield* agent.session
      assert.strictEqual(session.url, gateway.url)
    }))

  it.effect("close sends UNREGISTER: the agent leaves the directory", () =>
    Effect.gen(function*() {
      const gateway = yield* CurrentGateway
      const leaving = yield* client({ urls: [gateway.url], capabilities: [{ id: "leaving-cap" }] })
      yield* leaving.session
      const observer = yield* client({ urls: [gateway.url] })
      assert.strictEqual((yield* observer.discover({ capability: "leaving-cap" })).agents.length, 1)
      yield* leaving.close
      assert.strictEqual((yield* leaving.state)._tag, "Closed")
      yield* Effect.sleep("50 millis")
      assert.strictEqual((yield* observer.discover({ capability: "leaving-cap" })).agents.length, 0)
    }))
})
