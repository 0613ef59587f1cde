/**
 * Run in Chromium (the chromium project): the browser itself holds the DID binding. An OFFER that
 * is correctly signed but announces another certificate's fingerprint than the one its sender
 * presents in DTLS gets no connection from a browser agent; an honest one does, and the browser
 * reports (from `getStats()`) exactly the fingerprint that was signed.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { Signaling } from "../../src/client/Signaling.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { parseSdp } from "../../src/protocol/Sdp.ts"
import * as PeerConnection from "../../src/webrtc/peer/PeerConnection.ts"
import { Transport } from "../../src/webrtc/peer/Transport.ts"
import * as BrowserTransport from "../../src/webrtc/stacks/BrowserTransport.ts"
import { agentOnHub, connectPair, hub } from "../webrtc/fixtures.ts"

const FINGERPRINT = /^a=fingerprint:sha-256 .*$/m
const otherFingerprint = "a=fingerprint:sha-256 " + Array.from({ length: 32 }, () => "AB").join(":")
const transport = BrowserTransport.layer

describe("DTLS in Chromium", () => {
  it.live("the certificate each browser peer presented has exactly the fingerprint it signed", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      const { answerer, offerer } = yield* connectPair(yield* agentOnHub(signalingHub, transport), yield* agentOnHub(signalingHub, transport))
      for (const link of [offerer, answerer]) {
        let presented = link.peer.remoteFingerprint()
        for (let i = 0; i < 100 && presented === undefined; i++) {
          yield* Effect.sleep("10 millis")
          presented = link.peer.remoteFingerprint()
        }
        const signed = (yield* parseSdp(yield* link.peer.remoteSdp)).fingerprint
        assert.deepStrictEqual(presented, { algorithm: signed.algorithm, value: signed.value.toUpperCase() })
      }
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("a correctly signed OFFER carrying another certificate's fingerprint: DTLS fails, no connection opens", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      // Alice is signaling only (no Connector of hers takes the ANSWER away).
      const alice = { signaling: Context.get(yield* Layer.build(Signaling.layerMemory(yield* Identity.generate).pipe(Layer.provide(Layer.succeedContext(signalingHub)))), Signaling) }
      const bob = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 3_000 })
      const incoming = yield* bob.connector.incoming.pipe(Stream.runHead, Effect.forkChild)
      // Alice negotiates by hand, lying about her certificate in an OFFER she signs herself.
      const stack = yield* Transport.pipe(Effect.provide(transport))
      const peer = yield* PeerConnection.make(yield* stack.create({ iceServers: [] }), { maxMessageSize: stack.maxMessageSize })
      yield* peer.createDataChannel({ label: "ioap", protocol: "ioap.v1" })
      const sdp = (yield* peer.createOffer).replace(FINGERPRINT, otherFingerprint)
      const connection_id = crypto.randomUUID()
      // Listening before the OFFER leaves: the answer may come back at once.
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
