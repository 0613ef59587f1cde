import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Effect, Exit, Fiber, Layer, Option, Queue, Schedule, Scope, Stream, SubscriptionRef } from "effect"
import { TestClock } from "effect/testing"
import type { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { SDP } from "../fixtures/samples.ts"
import { freePort, startProcess, testConfig } from "../gateway/fixtures.ts"
import * as FakeGateway from "./FakeGateway.ts"
import { client } from "./fixtures.ts"

const registeredAgain = (agent: GatewayClient["Service"]) =>
  SubscriptionRef.changes(agent.state).pipe(Stream.filter((s) => s._tag === "Registered"), Stream.runHead, Effect.map(Option.getOrThrow))

const untilState = (agent: GatewayClient["Service"], tag: string) =>
  SubscriptionRef.changes(agent.state).pipe(Stream.filter((s) => s._tag === tag), Stream.runHead, Effect.map(Option.getOrThrow))

describe("GatewayClient resilience", () => {
  it.live("reconnects and re-registers after the gateway process is killed and restarted; queued frames are delivered", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-restart-"))
      const pinsFile = join(mkdtempSync(join(tmpdir(), "aiconexus-pins-")), "known-gateways.json")
      const pins = KnownGateways.layerFile(pinsFile).pipe(Layer.provide(NodeServices.layer))
      const url = `ws://127.0.0.1:${port}/ws`
      const first = yield* startProcess(dataDir, port)
      // Bob comes back quickly, alice a second later: her queued frame finds him registered.
      const bob = yield* client({ urls: [url], reconnect: Schedule.spaced("50 millis") }, pins)
      const alice = yield* client({ urls: [url], reconnect: Schedule.spaced("1200 millis") }, pins)
      yield* bob.session
      yield* alice.session
      first.child.kill("SIGKILL")
      yield* first.exited
      yield* untilState(alice, "Reconnecting")
      const connection_id = crypto.randomUUID()
      const sending = yield* Effect.forkChild(alice.send(bob.did, "OFFER", { connection_id, sdp: SDP }))
      const arriving = yield* Effect.forkChild(bob.incoming.pipe(Stream.runHead))
      const second = yield* startProcess(dataDir, port)
      assert.strictEqual(second.did, first.did)
      const id = yield* Fiber.join(sending)
      const received = Option.getOrThrow(yield* Fiber.join(arriving))
      assert.strictEqual(received.envelope.id, id)
      assert.strictEqual(received.envelope.type, "OFFER")
      assert.strictEqual((yield* registeredAgain(alice))._tag, "Registered")
    }), { timeout: 60_000 })

  it.live("fails a send with SendTimeout after its deadline while no gateway answers, and with SendQueueFull past the queue", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const peer = yield* Identity.generate
      const agent = yield* client({
        urls: [`ws://127.0.0.1:${port}/ws`],
        reconnect: Schedule.spaced("50 millis"),
        sendDeadlineMs: 300,
        sendQueueCapacity: 2
      })
      const timedOut = yield* Effect.flip(agent.send(peer.did, "BYE", { connection_id: crypto.randomUUID() }))
      assert.strictEqual(timedOut._tag, "SendTimeout")
      const waiting = yield* Effect.forkChild(
        Effect.all([agent.send(peer.did, "BYE", { connection_id: crypto.randomUUID() }), agent.send(peer.did, "BYE", { connection_id: crypto.randomUUID() })], { concurrency: 2 })
      )
      yield* Effect.sleep("50 millis")
      const full = yield* Effect.flip(agent.send(peer.did, "BYE", { connection_id: crypto.randomUUID() }))
      assert.strictEqual(full._tag, "SendQueueFull")
      yield* Fiber.interrupt(waiting)
    }))

  it.effect("an outage longer than the skew still delivers queued frames: they are signed when sent (TestClock)", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const config = testConfig({ port })
      const url = `ws://127.0.0.1:${port}/ws`
      const up = Effect.gen(function*() {
        const scope = yield* Scope.make()
        yield* Layer.buildWithScope(Gateway.layerMemory(config), scope)
        return scope
      })
      const firstScope = yield* up
      const settings = { urls: [url], sendDeadlineMs: 10 * 60_000 }
      // Bob retries every second, alice every 3 s: bob is back before her queued frame goes out.
      const alice = yield* client({ ...settings, reconnect: Schedule.spaced("3 seconds") })
      const bob = yield* client({ ...settings, reconnect: Schedule.spaced("1 second") })
      yield* alice.session
      yield* bob.session
      yield* Scope.close(firstScope, Exit.void)
      yield* untilState(alice, "Reconnecting")
      const queuedAt = yield* Clock.currentTimeMillis
      const sending = yield* Effect.forkChild(alice.send(bob.did, "BYE", { connection_id: crypto.randomUUID() }))
      const arriving = yield* Effect.forkChild(bob.incoming.pipe(Stream.runHead))
      // Three minutes pass (well over the 60 s skew) before the gateway is back.
      for (let i = 0; i < 18; i++) yield* TestClock.adjust("10 seconds")
      yield* up
      for (let i = 0; i < 50 && (yield* SubscriptionRef.get(alice.state))._tag !== "Registered"; i++) {
        yield* TestClock.adjust("1 second")
        yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
      }
      yield* Fiber.join(sending)
      const received = Option.getOrThrow(yield* Fiber.join(arriving))
      assert.isAtLeast(Envelope.timestampMillis(received.envelope.timestamp), queuedAt + 180_000)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("GatewayClient against a misbehaving gateway", () => {
  it.live("refuses and counts a tampered or forged frame the gateway forwards; delivers the genuine one", () =>
    Effect.gen(function*() {
      const gateway = yield* FakeGateway.start()
      const agent = yield* client({ urls: [gateway.url] })
      yield* agent.session
      const session = yield* Queue.take(gateway.sessions)
      const alice = yield* Identity.generate
      const arriving = yield* Effect.forkChild(agent.incoming.pipe(Stream.runHead))
      yield* Effect.sleep("20 millis")
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: agent.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      // The gateway alters the SDP: the signature no longer matches.
      session.socket.send(Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } }))
      // The gateway signs an OFFER itself: gateways may not originate relayed types.
      const forged = yield* Envelope.make(gateway.identity, { type: "OFFER", to: agent.did, payload: offer.payload })
      session.socket.send(Envelope.encode(forged))
      // A genuine frame addressed to someone else.
      const elsewhere = yield* Envelope.make(alice, { type: "BYE", to: alice.did === agent.did ? agent.did : (yield* Identity.generate).did, payload: { connection_id: crypto.randomUUID() } })
      session.socket.send(Envelope.encode(elsewhere))
      session.socket.send(Envelope.encode(offer))
      const received = Option.getOrThrow(yield* Fiber.join(arriving))
      assert.strictEqual(received.envelope.id, offer.id)
      assert.strictEqual(received.text, Envelope.encode(offer))
      assert.strictEqual(yield* agent.rejected, 3)
    }))

  it.live("fails a request the gateway never answers with RequestTimeout", () =>
    Effect.gen(function*() {
      const gateway = yield* FakeGateway.start()
      const agent = yield* client({ urls: [gateway.url], requestTimeoutMs: 200 })
      yield* agent.session
      const error = yield* Effect.flip(agent.discover({}))
      assert.strictEqual(error._tag, "RequestTimeout")
    }))

  it.live("sends heartbeats at the negotiated interval and reconnects when no PONG comes back", () =>
    Effect.gen(function*() {
      const gateway = yield* FakeGateway.start({ heartbeatIntervalMs: 150 })
      const agent = yield* client({ urls: [gateway.url], reconnect: Schedule.spaced("50 millis") })
      yield* agent.session
      const session = yield* Queue.take(gateway.sessions)
      const ping = JSON.parse(yield* Queue.take(session.received)) as Envelope.Envelope
      assert.strictEqual(ping.type, "PING")
      assert.strictEqual(ping.to, gateway.identity.did)
      const lost = yield* untilState(agent, "Reconnecting")
      assert.include(lost._tag === "Reconnecting" ? lost.error.reason : "", "no PONG")
      // It comes back on its own.
      yield* Queue.take(gateway.sessions)
      yield* registeredAgain(agent)
    }))

  it.live("pins the gateway DID on first use and refuses another gateway at the same address later", () =>
    Effect.gen(function*() {
      const pinned = yield* FakeGateway.start()
      const pins = KnownGateways.layerMemory
      const context = yield* Layer.build(pins)
      const shared = Layer.succeedContext(context)
      const first = yield* client({ urls: [pinned.url] }, shared)
      yield* first.session
      const known = Context.get(context, KnownGateways)
      assert.strictEqual(Option.getOrThrow(yield* known.get(pinned.url)), pinned.identity.did)
      yield* first.close
      // An impostor at the same address (the pin is per address).
      const impostor = yield* Identity.generate
      yield* known.pin(pinned.url, impostor.did)
      const second = yield* client({ urls: [pinned.url] }, shared)
      const error = yield* Effect.flip(second.session)
      assert.strictEqual(error._tag, "GatewayIdentityMismatch")
    }))
})
