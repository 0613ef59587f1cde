/**
 * One behavioural suite for every Signaling Layer: the in-memory hub and the gateway.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, type Scope, Stream } from "effect"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { Signaling, SignalingHub } from "../../src/client/Signaling.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { SDP } from "../fixtures/samples.ts"
import { client } from "./fixtures.ts"
import * as Gateways from "./gateways.ts"

interface Harness {
  /** A Signaling service for a new agent. */
  readonly agent: (identity: Identity.Identity) => Effect.Effect<Signaling["Service"], unknown, Scope.Scope>
  /** Puts a raw frame in front of `to` through the transport, as a hostile party could. */
  readonly inject: (to: string, frame: string) => Effect.Effect<void, unknown, Scope.Scope>
}

const memoryHarness: Effect.Effect<Harness, unknown, Scope.Scope> = Effect.gen(function*() {
  const hubContext = yield* Layer.build(SignalingHub.layer)
  const hub = Context.get(hubContext, SignalingHub)
  return {
    agent: (identity) =>
      Effect.map(
        Layer.build(Signaling.layerMemory(identity).pipe(Layer.provide(Layer.succeedContext(hubContext)))),
        (context) => Context.get(context, Signaling)
      ),
    inject: (to, frame) => Effect.asVoid(hub.deliver(to, frame))
  }
})

const gatewayHarness: Effect.Effect<Harness, unknown, Scope.Scope> = Effect.gen(function*() {
  const gateway = yield* Gateways.start()
  return {
    agent: (identity) =>
      Effect.gen(function*() {
        const gatewayClient = yield* client({ urls: [gateway.url], identity })
        yield* gatewayClient.session
        const context = yield* Layer.build(Signaling.layerGateway.pipe(Layer.provide(Layer.succeed(GatewayClient, gatewayClient))))
        return Context.get(context, Signaling)
      }),
    // A hostile agent registered at the gateway sends it; the gateway refuses it (an ERROR) and must not relay it.
    inject: (_to, frame) => Effect.asVoid(Gateways.sendAsHostileAgent(gateway, frame))
  }
})

const suite = (name: string, harness: Effect.Effect<Harness, unknown, Scope.Scope>) =>
  describe(`Signaling (${name})`, () => {
    const pair = Effect.gen(function*() {
      const { agent, inject } = yield* harness
      const aliceIdentity = yield* Identity.generate
      const bobIdentity = yield* Identity.generate
      const alice = yield* agent(aliceIdentity)
      const bob = yield* agent(bobIdentity)
      return { alice, bob, aliceIdentity, bobIdentity, inject }
    })

    it.live("delivers OFFER, ANSWER, ICE_CANDIDATE and BYE with sender, connection id and correlation", () =>
      Effect.gen(function*() {
        const { alice, bob } = yield* pair
        assert.notStrictEqual(alice.self, bob.self)
        const arriving = yield* bob.incoming.pipe(Stream.take(4), Stream.runCollect, Effect.forkChild)
        yield* Effect.sleep("20 millis")
        const connectionId = crypto.randomUUID()
        const offerId = yield* alice.send(bob.self, "OFFER", { connection_id: connectionId, sdp: SDP })
        yield* alice.send(bob.self, "ANSWER", { connection_id: connectionId, sdp: SDP }, offerId)
        yield* alice.send(bob.self, "ICE_CANDIDATE", { connection_id: connectionId, candidate: "", sdp_mline_index: 0 })
        yield* alice.send(bob.self, "BYE", { connection_id: connectionId, code: "CONNECTION_REFUSED" })
        const signals = [...(yield* Fiber.join(arriving))]
        assert.deepStrictEqual(signals.map((s) => s.type), ["OFFER", "ANSWER", "ICE_CANDIDATE", "BYE"])
        assert.isTrue(signals.every((s) => s.from === alice.self && s.connectionId === connectionId))
        assert.strictEqual(signals[0]!.id, offerId)
        assert.strictEqual(signals[1]!.correlationId, offerId)
        assert.deepStrictEqual(signals[3]!.payload, { connection_id: connectionId, code: "CONNECTION_REFUSED" })
      }).pipe(Effect.scoped))

    it.live("reports a signal to an absent DID as undelivered, with its connection id", () =>
      Effect.gen(function*() {
        const { alice } = yield* pair
        const nobody = yield* Identity.generate
        const reports = yield* alice.undelivered.pipe(Stream.runHead, Effect.forkChild)
        yield* Effect.sleep("20 millis")
        const connectionId = crypto.randomUUID()
        yield* alice.send(nobody.did, "OFFER", { connection_id: connectionId, sdp: SDP })
        const report = yield* Fiber.join(reports)
        assert.deepStrictEqual(report._tag === "Some" ? report.value : undefined, { to: nobody.did, connectionId, code: "UNKNOWN_AGENT" })
      }).pipe(Effect.scoped))

    it.live("never delivers a tampered frame, and keeps delivering genuine ones", () =>
      Effect.gen(function*() {
        const { alice, bob, aliceIdentity, bobIdentity, inject } = yield* pair
        const arriving = yield* bob.incoming.pipe(Stream.runHead, Effect.forkChild)
        yield* Effect.sleep("20 millis")
        const offer = yield* Envelope.make(aliceIdentity, { type: "OFFER", to: bobIdentity.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
        const tampered = Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "passive") } })
        yield* inject(bob.self, tampered)
        const genuineId = yield* alice.send(bob.self, "BYE", { connection_id: crypto.randomUUID() })
        const first = yield* Fiber.join(arriving)
        assert.strictEqual(first._tag === "Some" ? first.value.id : undefined, genuineId)
      }).pipe(Effect.scoped))

    it.live("keeps each sender's order when several agents signal one peer", () =>
      Effect.gen(function*() {
        const { agent } = yield* harness
        const target = yield* agent(yield* Identity.generate)
        const senders = yield* Effect.forEach([1, 2, 3], () => Effect.flatMap(Identity.generate, agent))
        const arriving = yield* target.incoming.pipe(Stream.take(30), Stream.runCollect, Effect.forkChild)
        yield* Effect.sleep("20 millis")
        yield* Effect.forEach(senders, (sender) =>
          Effect.forEach(Array.from({ length: 10 }, (_, i) => i), (i) =>
            sender.send(target.self, "ICE_CANDIDATE", { connection_id: crypto.randomUUID(), candidate: `candidate:${i} 1 udp 1 10.0.0.1 ${9000 + i} typ host`, sdp_mid: "0" })),
          { concurrency: "unbounded" })
        const signals = [...(yield* Fiber.join(arriving))]
        for (const sender of senders) {
          const ports = signals.filter((s) => s.from === sender.self).map((s) => Number((s.payload as Envelope.Payload<"ICE_CANDIDATE">).candidate.split(" ")[5]))
          assert.deepStrictEqual(ports, Array.from({ length: 10 }, (_, i) => 9000 + i))
        }
      }).pipe(Effect.scoped))
  })

suite("in-memory hub", memoryHarness)
suite("gateway", gatewayHarness)
