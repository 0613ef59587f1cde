import { assert, describe, it } from "@effect/vitest"
import { Clock, Context, Deferred, Effect, Exit, Fiber, Layer, Option, Schedule, Scope, Stream } from "effect"
import { TestClock } from "effect/testing"
import type { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { SDP } from "../fixtures/samples.ts"
import * as FakeGateway from "./FakeGateway.ts"
import { client } from "./fixtures.ts"
import * as Gateways from "./gateways.ts"

const registeredAgain = (agent: GatewayClient["Service"]) =>
  agent.changes.pipe(Stream.filter((s) => s._tag === "Registered"), Stream.runHead, Effect.map(Option.getOrThrow))

const untilState = (agent: GatewayClient["Service"], tag: string) =>
  agent.changes.pipe(Stream.filter((s) => s._tag === tag), Stream.runHead, Effect.map(Option.getOrThrow))

/**
 * `schedule`, each delay only once `back` is done: a client on it dials again only after another
 * client is back at the gateway (so a frame it queued for that one cannot arrive before it has).
 */
const after = (back: Deferred.Deferred<void>, schedule: Schedule.Schedule<unknown, unknown>) =>
  schedule.pipe(Schedule.modifyDelay(({ duration }) => Effect.as(Deferred.await(back), duration)))

/** A client registered with a fake gateway at `heartbeatIntervalMs`, and its session there once its first heartbeat arrived. */
const firstHeartbeat = (heartbeatIntervalMs: number) =>
  Effect.gen(function*() {
    const gateway = yield* FakeGateway.start({ heartbeatIntervalMs })
    const agent = yield* client({ urls: [gateway.url], reconnect: Schedule.spaced("50 millis") })
    const registered = yield* agent.session
    const session = yield* gateway.nextSession
    assert.strictEqual(yield* session.nextReceived, Heartbeat.FRAME)
    return { gateway, agent, registered, session }
  })

describe("GatewayClient resilience", () => {
  it.live("reconnects and re-registers after the gateway process is killed and restarted; queued frames are delivered", () =>
    Effect.gen(function*() {
      const port = yield* Gateways.freePort
      // Pins kept as the platform keeps them: a file in Node, IndexedDB in the browser.
      const pins = yield* Gateways.persistentPins
      // Both processes keep their key in one data folder: the restarted gateway has the same DID.
      const gateways = yield* Gateways.processes
      const url = `ws://127.0.0.1:${port}/ws`
      const first = yield* gateways.start(port)
      // Bob retries every 50 ms; alice only once bob is back: her queued frame must find him
      // registered (had she registered first, the gateway would answer it UNKNOWN_AGENT).
      const bobBack = yield* Deferred.make<void>()
      const bob = yield* client({ urls: [url], reconnect: Schedule.spaced("50 millis") }, pins)
      const alice = yield* client({ urls: [url], reconnect: after(bobBack, Schedule.spaced("50 millis")) }, pins)
      yield* bob.session
      yield* alice.session
      yield* first.kill
      yield* untilState(alice, "Reconnecting")
      yield* untilState(bob, "Reconnecting")
      const connection_id = crypto.randomUUID()
      const sending = yield* Effect.forkChild(alice.send(bob.did, "OFFER", { connection_id, sdp: SDP }))
      const arriving = yield* Effect.forkChild(bob.incoming.pipe(Stream.runHead))
      const second = yield* gateways.start(port)
      assert.strictEqual(second.did, first.did)
      yield* untilState(bob, "Registered")
      yield* Deferred.succeed(bobBack, undefined)
      const id = yield* Fiber.join(sending)
      const received = Option.getOrThrow(yield* Fiber.join(arriving))
      assert.strictEqual(received.envelope.id, id)
      assert.strictEqual(received.envelope.type, "OFFER")
      assert.strictEqual((yield* registeredAgain(alice))._tag, "Registered")
    }), { timeout: 60_000 })

  it.live("fails a send with SendTimeout after its deadline while no gateway answers, and with SendQueueFull past the queue", () =>
    Effect.gen(function*() {
      const port = yield* Gateways.freePort
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
      const port = yield* Gateways.freePort
      // Gateways on the test's clock (in Chromium: a TestClock in Node moved with the browser's).
      const gateways = yield* Gateways.onTestClock
      const url = `ws://127.0.0.1:${port}/ws`
      // Each gateway in a scope of its own (closed to take it down). Their parent closes after the
      // clients (made later), so that no client reconnects while the last gateway stops.
      const gatewaysScope = yield* Scope.fork(yield* Effect.scope)
      const up = Effect.gen(function*() {
        const scope = yield* Scope.fork(gatewaysScope)
        yield* Scope.provide(gateways.start({ port }), scope)
        return scope
      })
      const firstScope = yield* up
      const settings = { urls: [url], sendDeadlineMs: 10 * 60_000 }
      // Bob retries every second; alice every 40 s once bob is back (before her queued frame goes
      // out: were she first, the gateway would answer it UNKNOWN_AGENT).
      const bobBack = yield* Deferred.make<void>()
      const alice = yield* client({ ...settings, reconnect: after(bobBack, Schedule.spaced("40 seconds")) })
      const bob = yield* client({ ...settings, reconnect: Schedule.spaced("1 second") })
      yield* alice.session
      yield* bob.session
      yield* Scope.close(firstScope, Exit.void)
      yield* untilState(alice, "Reconnecting")
      const queuedAt = yield* Clock.currentTimeMillis
      const sending = yield* Effect.forkChild(alice.send(bob.did, "BYE", { connection_id: crypto.randomUUID() }))
      const arriving = yield* Effect.forkChild(bob.incoming.pipe(Stream.runHead))
      // Three minutes pass (well over the 60 s skew) before the gateway is back.
      for (let i = 0; i < 18; i++) yield* gateways.adjust("10 seconds")
      yield* up
      // A second at a time while the agent waits to retry (with a moment of real time for the
      // sockets). While it is connecting the clock stands still, so a slow machine cannot run a
      // handshake past its timeout (bounded: 50 s of clock, 1,000 waits).
      const untilRegistered = (agent: GatewayClient["Service"]) =>
        Effect.gen(function*() {
          let moved = 0
          for (let i = 0; i < 1000 && moved < 50; i++) {
            const tag = (yield* agent.state)._tag
            if (tag === "Registered") return
            if (tag !== "Connecting") {
              yield* gateways.adjust("1 second")
              moved++
            }
            yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
          }
          assert.fail(`not registered again after ${moved} s of clock: ${(yield* agent.state)._tag}`)
        })
      yield* untilRegistered(bob)
      yield* Deferred.succeed(bobBack, undefined)
      yield* untilRegistered(alice)
      yield* Fiber.join(sending)
      const received = Option.getOrThrow(yield* Fiber.join(arriving))
      assert.isAtLeast(Envelope.timestampMillis(received.envelope.timestamp), queuedAt + 180_000)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("a failFast client, once registered, retries a lost gateway (it does not stop)", () =>
    Effect.gen(function*() {
      const gatewayScope = yield* Scope.make()
      yield* Effect.addFinalizer(() => Scope.close(gatewayScope, Exit.void))
      const gateway = yield* Scope.provide(Gateways.start(), gatewayScope)
      const agent = yield* client({ urls: [gateway.url], failFast: true, reconnect: Schedule.spaced("20 millis") })
      yield* agent.session
      yield* Scope.close(gatewayScope, Exit.void)
      // Several failed attempts (every 20 ms) later it is still reconnecting, not closed.
      const states = yield* agent.changes.pipe(
        Stream.filter((state) => state._tag === "Reconnecting" || state._tag === "Closed"),
        Stream.take(5),
        Stream.runCollect
      )
      assert.deepStrictEqual(states.map((state) => state._tag), ["Reconnecting", "Reconnecting", "Reconnecting", "Reconnecting", "Reconnecting"])
    }).pipe(Effect.scoped))
})

describe("GatewayClient against a misbehaving gateway", () => {
  it.live("refuses and counts a tampered or forged frame the gateway forwards; delivers the genuine one", () =>
    Effect.gen(function*() {
      const gateway = yield* FakeGateway.start()
      const agent = yield* client({ urls: [gateway.url] })
      yield* agent.session
      const session = yield* gateway.nextSession
      const alice = yield* Identity.generate
      const arriving = yield* Effect.forkChild(agent.incoming.pipe(Stream.runHead))
      yield* Effect.sleep("20 millis")
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: agent.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      // The gateway alters the SDP: the signature no longer matches.
      yield* session.send(Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } }))
      // The gateway signs an OFFER itself: gateways may not originate relayed types.
      const forged = yield* gateway.sign({ type: "OFFER", to: agent.did, payload: offer.payload })
      yield* session.send(Envelope.encode(forged))
      // A genuine frame addressed to someone else.
      const elsewhere = yield* Envelope.make(alice, { type: "BYE", to: alice.did === agent.did ? agent.did : (yield* Identity.generate).did, payload: { connection_id: crypto.randomUUID() } })
      yield* session.send(Envelope.encode(elsewhere))
      yield* session.send(Envelope.encode(offer))
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

  it.live("sends the unsigned heartbeat frame at the negotiated interval and reconnects when no answer comes back", () =>
    Effect.gen(function*() {
      const { gateway, agent, session } = yield* firstHeartbeat(150)
      const lost = yield* untilState(agent, "Reconnecting")
      assert.include(lost._tag === "Reconnecting" ? lost.error.reason : "", "no heartbeat answer within 150 ms")
      // It comes back on its own.
      yield* gateway.nextSession
      yield* registeredAgain(agent)
    }))

  it.effect("waits at most 20 s for a heartbeat's answer, however long the interval (TestClock)", () =>
    Effect.gen(function*() {
      // Signed frames carry the clock's time: start it at the wall clock's.
      yield* TestClock.setTime(Date.now())
      const gateway = yield* FakeGateway.start({ heartbeatIntervalMs: 60_000 })
      const agent = yield* client({ urls: [gateway.url], reconnect: Schedule.spaced("50 millis") })
      yield* agent.session
      const session = yield* gateway.nextSession
      yield* TestClock.adjust(60_000)
      assert.strictEqual(yield* session.nextReceived, Heartbeat.FRAME)
      yield* TestClock.adjust(Heartbeat.MAX_ANSWER_MS - 1)
      assert.strictEqual((yield* agent.state)._tag, "Registered")
      const lost = yield* Effect.forkChild(untilState(agent, "Reconnecting"))
      yield* TestClock.adjust(1)
      const state = yield* Fiber.join(lost)
      assert.include(state._tag === "Reconnecting" ? state.error.reason : "", `no heartbeat answer within ${Heartbeat.MAX_ANSWER_MS} ms`)
    }))

  it.live("stays registered while every heartbeat is answered with HEARTBEAT_ACK", () =>
    Effect.gen(function*() {
      const { agent, registered, session } = yield* firstHeartbeat(100)
      // Five intervals, each heartbeat answered: the same session throughout, nothing refused.
      yield* session.send(Heartbeat.ACK_FRAME)
      for (let i = 1; i < 5; i++) {
        assert.strictEqual(yield* session.nextReceived, Heartbeat.FRAME)
        yield* session.send(Heartbeat.ACK_FRAME)
      }
      const state = yield* agent.state
      assert.strictEqual(state._tag, "Registered")
      assert.strictEqual(state._tag === "Registered" ? state.session.sessionId : "", registered.sessionId)
      assert.strictEqual(yield* agent.rejected, 0)
    }))

  it.live("falls back to signed PINGs with a gateway from before the heartbeat frame (it refuses the frame as MALFORMED_MESSAGE)", () =>
    Effect.gen(function*() {
      const { gateway, agent, registered, session } = yield* firstHeartbeat(100)
      // What an older gateway answers an unreadable frame: a signed ERROR without correlation_id.
      const refusal = yield* gateway.sign({ type: "ERROR", to: session.agentDid as never, payload: { code: "MALFORMED_MESSAGE", message: "missing id" } })
      yield* session.send(Envelope.encode(refusal))
      for (let i = 0; i < 3; i++) {
        const ping = JSON.parse(yield* session.nextReceived) as Envelope.Envelope<"PING">
        assert.strictEqual(ping.type, "PING")
        assert.strictEqual(ping.to, gateway.did)
        yield* session.send(Envelope.encode(yield* gateway.sign({ type: "PONG", to: session.agentDid as never, correlation_id: ping.id, payload: {} })))
      }
      const state = yield* agent.state
      assert.strictEqual(state._tag === "Registered" ? state.session.sessionId : state._tag, registered.sessionId)
    }))

  it.live("refuses a malformed heartbeat answer (counted, not taken as an answer) and reconnects", () =>
    Effect.gen(function*() {
      const { gateway, agent, session } = yield* firstHeartbeat(150)
      yield* session.send(`{"type":"HEARTBEAT_ACK","extra":1}`)
      const lost = yield* untilState(agent, "Reconnecting")
      assert.include(lost._tag === "Reconnecting" ? lost.error.reason : "", "no heartbeat answer")
      assert.strictEqual(yield* agent.rejected, 1)
    }))

  it.live("waits the schedule's first delay before its first reconnection after a lost session (a herd does not dial at once)", () =>
    Effect.gen(function*() {
      // The gateway stays up: only the session is lost (no heartbeat answer), so a client dialling at once would be back at once.
      const gateway = yield* FakeGateway.start({ heartbeatIntervalMs: 150 })
      const slow = yield* client({ urls: [gateway.url], reconnect: Schedule.spaced("30 seconds") })
      yield* slow.session
      yield* gateway.nextSession
      yield* untilState(slow, "Reconnecting")
      // Within 1.5 s of the loss: no second registration (its first delay is 30 s).
      const early = yield* gateway.nextSession.pipe(Effect.timeoutOption("1500 millis"))
      assert.isTrue(Option.isNone(early))
      assert.strictEqual((yield* slow.state)._tag, "Reconnecting")
      // A short first delay: it is back.
      const quick = yield* client({ urls: [gateway.url], reconnect: Schedule.spaced("100 millis") })
      yield* quick.session
      yield* gateway.nextSession
      yield* untilState(quick, "Reconnecting")
      yield* registeredAgain(quick)
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
      assert.strictEqual(Option.getOrThrow(yield* known.get(pinned.url)), pinned.did)
      yield* first.close
      // An impostor at the same address (the pin is per address).
      const impostor = yield* Identity.generate
      yield* known.pin(pinned.url, impostor.did)
      const second = yield* client({ urls: [pinned.url] }, shared)
      const error = yield* Effect.flip(second.session)
      assert.strictEqual(error._tag, "GatewayIdentityMismatch")
    }))
})
