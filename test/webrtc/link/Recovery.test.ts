/**
 * Recovery of a link whose network path breaks and returns (PROTOCOL.md 5.2), on the real stacks:
 * both peers' ICE goes through a user-space UDP relay on 127.0.0.1 that the test pauses.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Stream } from "effect"
import * as EnvelopeChannel from "../../../src/webrtc/link/EnvelopeChannel.ts"
import * as PeerMetrics from "../../../src/webrtc/peer/PeerMetrics.ts"
import type { RecoveryOptions } from "../../../src/webrtc/link/LinkRecovery.ts"
import { agentOnHub, allTransports, connectPair, firstEvent, hub, reaches, realTransports } from "../fixtures.ts"
import * as UdpRelay from "../udpRelay.ts"

const liveness = { pingIntervalMs: 100, livenessTimeoutMs: 3_000 }

/** Two agents whose ICE goes through `relay`, connected, with their control channels. */
const pairThroughRelay = (
  transport: (typeof realTransports)[number][1],
  relay: UdpRelay.UdpRelay,
  recovery: RecoveryOptions,
  answererRecovery: RecoveryOptions | false = recovery
) =>
  Effect.gen(function*() {
    const signalingHub = yield* hub
    const alice = yield* agentOnHub(signalingHub, transport, { recovery }, UdpRelay.tap(relay))
    const bob = yield* agentOnHub(signalingHub, transport, { recovery: answererRecovery }, UdpRelay.tap(relay))
    const { answerer, offerer } = yield* connectPair(alice, bob)
    const ours = yield* EnvelopeChannel.make(offerer, alice.identity, liveness)
    const theirs = yield* EnvelopeChannel.make(answerer, bob.identity, liveness)
    return { offerer, answerer, ours, theirs }
  })

/** The queries of the INTENTs arriving on a control channel (its one consumer), as they come. */
const intentsAt = (channel: EnvelopeChannel.EnvelopeChannel) =>
  Effect.gen(function*() {
    const seen: Array<string> = []
    yield* channel.envelopes.pipe(
      Stream.runForEach(({ envelope }) => Effect.sync(() => void seen.push(String((envelope.payload as { readonly query?: string }).query)))),
      Effect.forkScoped
    )
    return {
      seen,
      /** Waits (bounded) until `query` arrived. */
      arrived: (query: string) =>
        Effect.gen(function*() {
          while (!seen.includes(query)) yield* Effect.sleep("10 millis")
        }).pipe(Effect.timeout("10 seconds"))
    }
  })

/** Sends an INTENT and waits (bounded) for it at the other end. */
const roundTrip = (from: EnvelopeChannel.EnvelopeChannel, to: { readonly arrived: (query: string) => Effect.Effect<void, unknown> }, query: string) =>
  Effect.andThen(from.send({ type: "INTENT", payload: { query } }), to.arrived(query))

describe.each(realTransports)("recovery on %s", (name, transport) => {
  it.live("the path breaks and returns: the link recovers and carries messages again; a send made during the break is not lost silently", () =>
    Effect.gen(function*() {
      const relay = yield* UdpRelay.make
      const { answerer, offerer, ours, theirs } = yield* pairThroughRelay(transport, relay, { attemptTimeoutMs: 8_000 })
      const atAlice = yield* intentsAt(ours)
      const atBob = yield* intentsAt(theirs)
      yield* roundTrip(ours, atBob, "before the break")
      const firstPeer = offerer.peer
      const offererEvent = yield* Effect.forkChild(firstEvent(offerer))
      const answererEvent = yield* Effect.forkChild(firstEvent(answerer))

      yield* relay.pause
      yield* reaches(offerer, "disconnected")
      // Sent while the path is down: it waits for the outcome of the recovery.
      const duringBreak = yield* ours.send({ type: "INTENT", payload: { query: "during the break" } }).pipe(Effect.result, Effect.forkChild)
      yield* relay.resume

      const event = yield* Fiber.join(offererEvent)
      const sent = yield* Fiber.join(duringBreak)
      assert.isAbove(relay.counts().dropped, 0)
      if (name === "werift") {
        // ICE restarted on the same connection: DTLS and SCTP carried on, nothing was lost.
        assert.strictEqual(event._tag, "IceRestarted")
        assert.strictEqual(offerer.peer, firstPeer)
        assert.strictEqual((yield* Fiber.join(answererEvent))._tag, "IceRestarted")
        assert.strictEqual(sent._tag, "Success")
        yield* atBob.arrived("during the break")
      } else {
        // node-datachannel cannot restart ICE: a new connection under the same link.
        assert.strictEqual(event._tag, "Reestablished")
        assert.notStrictEqual(offerer.peer, firstPeer)
        assert.strictEqual(yield* firstPeer.connection.state, "closed")
        const theirEvent = yield* Fiber.join(answererEvent)
        assert.strictEqual(theirEvent._tag, "Reestablished")
        assert.strictEqual(event._tag === "Reestablished" ? event.generation : 0, 1)
        assert.strictEqual(sent._tag === "Failure" ? sent.failure._tag : "sent", "ConnectionReestablished")
      }
      assert.strictEqual(event.connectionId, offerer.connectionId)
      yield* reaches(offerer, "connected")
      yield* roundTrip(ours, atBob, "after the break")
      yield* roundTrip(theirs, atAlice, "and back")
      assert.deepStrictEqual(atBob.seen.filter((q) => q !== "during the break"), ["before the break", "after the break"])
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("recovery on node-datachannel, the answerer without the recovery option", () => {
  it.live("it still follows the offerer's rebuild: its control channel carries on over the new connection", () =>
    Effect.gen(function*() {
      const relay = yield* UdpRelay.make
      const { answerer, offerer, ours, theirs } = yield* pairThroughRelay(realTransports[0]![1], relay, { attemptTimeoutMs: 8_000 }, false)
      const atAlice = yield* intentsAt(ours)
      const atBob = yield* intentsAt(theirs)
      const events = yield* Effect.forkChild(Effect.all([firstEvent(offerer), firstEvent(answerer)], { concurrency: 2 }))
      yield* relay.pause
      yield* reaches(offerer, "disconnected")
      yield* relay.resume
      assert.deepStrictEqual((yield* Fiber.join(events)).map((e) => e._tag), ["Reestablished", "Reestablished"])
      yield* roundTrip(ours, atBob, "after the rebuild")
      yield* roundTrip(theirs, atAlice, "and back")
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("recovery that cannot succeed", () => {
  it.live("a path that does not return: every attempt fails, RecoveryFailed, and both ends of the link end", () =>
    Effect.gen(function*() {
      const relay = yield* UdpRelay.make
      const { answerer, offerer } = yield* pairThroughRelay(realTransports[0]![1], relay, { attempts: 2, attemptTimeoutMs: 1_000 })
      const event = yield* Effect.forkChild(firstEvent(offerer))
      yield* relay.pause
      const failed = yield* Fiber.join(event)
      assert.strictEqual(failed._tag, "RecoveryFailed")
      assert.strictEqual(failed._tag === "RecoveryFailed" ? failed.attempts : 0, 2)
      yield* offerer.ended.pipe(Effect.timeout("10 seconds"))
      yield* answerer.ended.pipe(Effect.timeout("10 seconds"))
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe.each(allTransports)("an OFFER on an existing connection on %s", (_name, makeTransport) => {
  it.live("from the side that did not offer it: refused and counted, and the connection carries on (no glare)", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport, { recovery: true })
      const bob = yield* agentOnHub(signalingHub, transport, { recovery: true })
      const { answerer, offerer } = yield* connectPair(alice, bob)
      const sdp = yield* answerer.peer.remoteSdp
      // Bob answered this connection; an OFFER from him on its id is not a restart alice accepts.
      yield* bob.signaling.send(alice.identity.did, "OFFER", { connection_id: offerer.connectionId, sdp })
      const refused = PeerMetrics.offersRefused("not_offerer")
      yield* Effect.gen(function*() {
        while ((yield* Metric.value(refused)).count < 1) yield* Effect.sleep("10 millis")
      }).pipe(Effect.timeout("5 seconds"))
      assert.strictEqual(yield* offerer.peer.signaling.state, "stable")
      assert.strictEqual(yield* offerer.peer.connection.state, "connected")
      const ours = yield* EnvelopeChannel.make(offerer, alice.identity, liveness)
      const theirs = yield* EnvelopeChannel.make(answerer, bob.identity, liveness)
      yield* roundTrip(ours, yield* intentsAt(theirs), "still one connection")
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())), { timeout: 30_000 })
})
