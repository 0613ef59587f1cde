import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Fiber, Option, Stream } from "effect"
import * as PeerConnection from "../../../src/webrtc/peer/PeerConnection.ts"
import { Transport } from "../../../src/webrtc/peer/Transport.ts"
import { agentOnHub, allTransports, connectedPair, connectPair, hub, realTransports } from "../fixtures.ts"

/** A stand-in stack that only reports states, to drive the event path by hand. */
class ReportingStack extends EventTarget {
  connectionState: RTCPeerConnectionState = "new"
  iceConnectionState: RTCIceConnectionState = "new"
  report(connection: RTCPeerConnectionState) {
    this.connectionState = connection
    this.dispatchEvent(new Event("connectionstatechange"))
  }
  close() {}
}

/** A PeerConnection over a reporting stack. */
const overReporting = (stack: ReportingStack) =>
  PeerConnection.make(
    { pc: stack as unknown as RTCPeerConnection, remoteFingerprint: () => undefined, selectedPair: () => Effect.succeed(undefined) },
    { maxMessageSize: 1024 }
  )

describe("PeerConnection", () => {
  it.live("an event the machine does not allow moves the connection to failed (and is logged), failing no caller", () =>
    Effect.gen(function*() {
      const stack = new ReportingStack()
      const peer = yield* overReporting(stack)
      const states = yield* peer.connection.changes.pipe(Stream.take(3), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("5 millis")
      // Allowed reports are followed in order.
      stack.report("connecting")
      stack.report("connected")
      assert.deepStrictEqual([...(yield* Fiber.join(states))], ["new", "connecting", "connected"])
      const fresh = new ReportingStack()
      const second = yield* overReporting(fresh)
      fresh.report("disconnected") // new → disconnected: not allowed
      yield* Effect.sleep("20 millis")
      assert.strictEqual(yield* second.connection.state, "failed")
    }).pipe(Effect.scoped))
})

describe("PeerConnection liveness operations", () => {
  it.live("the connection decides what the peer's silence means for its state; after close nothing changes", () =>
    Effect.gen(function*() {
      const stack = new ReportingStack()
      const peer = yield* overReporting(stack)
      const states = yield* peer.connection.changes.pipe(Stream.takeUntil((s) => s === "closed"), Stream.runCollect, Effect.forkChild)
      yield* Effect.sleep("5 millis")
      stack.report("connected")
      yield* Effect.sleep("5 millis")
      yield* peer.heard // connected: stays
      yield* peer.silentPastHalfTimeout
      assert.strictEqual(yield* peer.connection.state, "disconnected")
      yield* peer.silentPastHalfTimeout // disconnected: stays
      yield* peer.heard
      assert.strictEqual(yield* peer.connection.state, "connected")
      assert.isTrue(yield* peer.silentPastTimeout)
      assert.isFalse(yield* peer.silentPastTimeout)
      assert.strictEqual(yield* peer.connection.state, "failed")
      yield* peer.heard // failed: through connecting
      assert.strictEqual(yield* peer.connection.state, "connected")
      yield* peer.close
      assert.isFalse(yield* peer.silentPastTimeout)
      yield* peer.heard
      assert.strictEqual(yield* peer.connection.state, "closed")
      assert.deepStrictEqual(
        [...(yield* Fiber.join(states))],
        ["new", "connected", "disconnected", "connected", "failed", "connecting", "connected", "closed"]
      )
    }).pipe(Effect.scoped))
})

describe.each(allTransports)("PeerConnection API on %s", (_name, makeTransport) => {
  it.live("channel lookup by label and id, age, and per-channel stats", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* connectedPair(makeTransport)
      // The link's control channel is a view of the connection's `ioap` channel (see LinkChannel).
      const byLabel = Option.getOrThrow(yield* offerer.peer.channel("ioap"))
      assert.strictEqual(byLabel.label, offerer.control.label)
      const id = offerer.control.id()
      assert.isNotNull(id)
      assert.strictEqual(byLabel.id(), id)
      assert.strictEqual(Option.getOrThrow(yield* offerer.peer.channel(id!)), byLabel)
      assert.isTrue(Option.isNone(yield* offerer.peer.channel("nope")))
      assert.isTrue(Duration.toMillis(yield* offerer.peer.age) >= 0)
      const arriving = yield* answerer.control.messages.pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* offerer.control.send("héllo")
      yield* offerer.control.send(new Uint8Array(10))
      yield* Fiber.join(arriving)
      const sent = (yield* offerer.peer.stats).channels.find((c) => c.label === "ioap")!
      assert.deepStrictEqual({ bytes: sent.bytesSent, messages: sent.messagesSent }, { bytes: 6 + 10, messages: 2 })
      const received = (yield* answerer.peer.stats).channels.find((c) => c.label === "ioap")!
      assert.deepStrictEqual({ bytes: received.bytesReceived, messages: received.messagesReceived }, { bytes: 16, messages: 2 })
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe.each(realTransports)("selected candidate pair on %s", (_name, transport) => {
  it.live("stats name the selected pair (on 127.0.0.1)", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const { offerer } = yield* connectPair(alice, bob)
      const pair = (yield* offerer.peer.stats).selectedPair
      assert.isDefined(pair)
      assert.strictEqual(pair!.localType, "host")
      // The peer's checks may arrive before its trickled candidate: then it is peer-reflexive.
      assert.include(["host", "prflx"], pair!.remoteType)
      assert.match(pair!.remoteAddress, /^127\.0\.0\.1:\d+$/)
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe.each(allTransports)("rollback on %s", (name, makeTransport) => {
  it.live("rolls a pending local offer back to stable where the stack can; a typed failure where it cannot", () =>
    Effect.gen(function*() {
      const layer = yield* makeTransport
      yield* Effect.gen(function*() {
        const transport = yield* Transport
        const peer = yield* PeerConnection.make(yield* transport.create({ iceServers: [] }), { maxMessageSize: transport.maxMessageSize })
        const refused = yield* Effect.flip(peer.rollback)
        assert.strictEqual(refused._tag, "InvalidTransition")
        yield* peer.createDataChannel({ label: "ioap" })
        yield* peer.createOffer
        const result = yield* Effect.result(peer.rollback)
        if (transport.supportsRollback) {
          assert.strictEqual(result._tag, "Success")
          assert.strictEqual(yield* peer.signaling.state, "stable")
          // A new offer is possible again.
          yield* peer.createOffer
        } else {
          assert.strictEqual(result._tag === "Failure" ? result.failure._tag : name, "RtcError")
          assert.strictEqual(yield* peer.signaling.state, "have-local-offer")
        }
      }).pipe(Effect.scoped, Effect.provide(layer))
    }).pipe(Effect.scoped), { timeout: 20_000 })
})
