/**
 * PROTOCOL.md 5.2 security: the DTLS binding to the signed fingerprint, and connections keyed by
 * (remote DID, connection id).
 */
import { readdirSync, readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { Signaling, SignalingHub } from "../../../src/client/Signaling.ts"
import * as Identity from "../../../src/protocol/Identity.ts"
import { parseSdp } from "../../../src/protocol/Sdp.ts"
import * as PeerConnection from "../../../src/webrtc/peer/PeerConnection.ts"
import { Transport } from "../../../src/webrtc/peer/Transport.ts"
import { agentOnHub, allTransports, connectPair, hub, realTransports } from "../fixtures.ts"

const FINGERPRINT = /^a=fingerprint:sha-256 .*$/m
const otherFingerprint = "a=fingerprint:sha-256 " + Array.from({ length: 32 }, () => "AB").join(":")

/** A hub that rewrites the fingerprint of every SDP it carries, as a hostile relay would. */
const tamperingHub = Effect.gen(function*() {
  const honest = Context.get(yield* hub, SignalingHub)
  return Context.make(SignalingHub, SignalingHub.of({
    attach: honest.attach,
    deliver: (to, frame) => honest.deliver(to, frame.replace(/a=fingerprint:sha-256 [0-9A-F:]+/, otherFingerprint))
  }))
})

describe.each(allTransports)("security over %s", (_name, makeTransport) => {
  it.live("a relay that rewrites the SDP fingerprint: the connection never opens; the receiver reports INVALID_SIGNATURE", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* tamperingHub
      const alice = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 1_500 })
      const bob = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 1_500 })
      const rejected = yield* bob.signaling.rejected.pipe(Stream.runHead, Effect.forkChild)
      const error = yield* Effect.flip(alice.connector.connect(bob.identity.did))
      assert.strictEqual(error._tag, "ConnectTimeout")
      const rejection = Option.getOrThrow(yield* Fiber.join(rejected))
      assert.strictEqual(rejection.code, "INVALID_SIGNATURE")
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("a third agent cannot inject BYE, candidates or ANSWERs into someone else's connection", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const mallory = yield* agentOnHub(signalingHub, transport, { acceptPolicy: () => Effect.succeed(false) })
      const { answerer, offerer } = yield* connectPair(alice, bob)
      const connection_id = offerer.connectionId
      yield* mallory.signaling.send(bob.identity.did, "BYE", { connection_id, reason: "hijack" })
      yield* mallory.signaling.send(alice.identity.did, "BYE", { connection_id, reason: "hijack" })
      yield* mallory.signaling.send(bob.identity.did, "ICE_CANDIDATE", { connection_id, candidate: "candidate:9 1 udp 1 10.9.9.9 9 typ host", sdp_mid: "0" })
      yield* mallory.signaling.send(alice.identity.did, "ANSWER", { connection_id, sdp: "v=0\r\n" })
      yield* Effect.sleep("100 millis")
      // The link still works both ways.
      const arriving = yield* answerer.control.messages.pipe(Stream.runHead, Effect.forkChild)
      yield* offerer.control.send("still here")
      assert.deepStrictEqual(yield* Fiber.join(arriving), Option.some("still here"))
      assert.isTrue(yield* offerer.peer.isConnected)
      assert.isTrue(yield* answerer.peer.isConnected)
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("the accept policy refuses before anything is created: the caller gets ConnectionRefused", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport, { acceptPolicy: (did) => Effect.succeed(did !== alice.identity.did) })
      const error = yield* Effect.flip(alice.connector.connect(bob.identity.did))
      assert.strictEqual(error._tag, "ConnectionRefused")
      assert.strictEqual(error._tag === "ConnectionRefused" ? error.code : "", "CONNECTION_REFUSED")
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe.each(realTransports)("DTLS on %s", (_name, transport) => {
  it.live("once open, the certificate the peer presented has exactly the fingerprint it signed", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const { answerer, offerer } = yield* connectPair(alice, bob)
      for (const [link, signedBy] of [[offerer, "answer"], [answerer, "offer"]] as const) {
        const presented = link.peer.remoteFingerprint()
        assert.isDefined(presented, `no fingerprint from the ${signedBy}er`)
        const remoteSdp = (yield* link.peer.signaling.state) === "stable"
          ? yield* link.peer.remoteSdp
          : ""
        const signed = (yield* parseSdp(remoteSdp)).fingerprint
        assert.strictEqual(presented!.value.toUpperCase(), signed.value.toUpperCase())
      }
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("a correctly signed OFFER carrying another certificate's fingerprint: DTLS fails, no connection opens", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      // Alice is signaling only: a Connector of hers would take the ANSWER from her listener.
      const alice = { signaling: Context.get(yield* Layer.build(Signaling.layerMemory(yield* Identity.generate).pipe(Layer.provide(Layer.succeedContext(signalingHub)))), Signaling) }
      const bob = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 3_000 })
      const incoming = yield* bob.connector.incoming.pipe(Stream.runHead, Effect.forkChild)
      // Alice negotiates by hand, lying about her certificate in an OFFER she signs herself.
      const stack = yield* Transport.pipe(Effect.provide(transport))
      const peer = yield* PeerConnection.make(yield* stack.create({ iceServers: [] }), { maxMessageSize: stack.maxMessageSize })
      yield* peer.createDataChannel({ label: "ioap", protocol: "ioap.v1" })
      const sdp = (yield* peer.createOffer).replace(FINGERPRINT, otherFingerprint)
      const connection_id = crypto.randomUUID()
      let answered = false
      yield* alice.signaling.incoming.pipe(
        Stream.runForEach((signal) =>
          signal.type === "ANSWER"
            ? Effect.ignore(Effect.andThen(peer.acceptAnswer((signal.payload as { sdp: string }).sdp), Effect.sync(() => void (answered = true))))
            : signal.type === "ICE_CANDIDATE"
            ? Effect.ignore(peer.addRemoteCandidate({ candidate: (signal.payload as { candidate: string }).candidate, sdpMid: "0" }))
            : Effect.void),
        Effect.forkScoped
      )
      yield* alice.signaling.send(bob.identity.did, "OFFER", { connection_id, sdp })
      yield* peer.localCandidates.pipe(
        Stream.runForEach((c) => Effect.ignore(alice.signaling.send(bob.identity.did, "ICE_CANDIDATE", { connection_id, candidate: c.candidate, sdp_mid: c.sdpMid ?? "0" }))),
        Effect.forkScoped
      )
      const accepted = yield* Fiber.join(incoming).pipe(Effect.timeout("4 seconds"), Effect.option)
      // Bob answered (the signature holds), so only DTLS stood between them.
      assert.isTrue(answered, "bob answered the signed OFFER")
      assert.isTrue(Option.isNone(accepted) || Option.isNone(accepted.value), "bob must not get a connection")
      assert.notStrictEqual(yield* peer.connection.state, "connected")
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe("no code path disables fingerprint verification", () => {
  it("src/ never turns libdatachannel's or werift's certificate check off", () => {
    const root = new URL("../../../src", import.meta.url).pathname
    const files = readdirSync(root, { recursive: true, encoding: "utf8" }).filter((f) => f.endsWith(".ts"))
    const offenders = files.filter((file) => /disableFingerprintVerification|skipFingerprint|dtlsVerify\s*:\s*false/.test(readFileSync(join(root, file), "utf8")))
    assert.deepStrictEqual(offenders, [])
  })
})
