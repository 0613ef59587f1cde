import { assert, layer } from "@effect/vitest"
import { Effect } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Accept from "../../src/protocol/Accept.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import { SDP } from "../fixtures/samples.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

/** Two registered agents. */
const pair = Effect.gen(function*() {
  const gateway = yield* Gateway.Gateway
  return { gateway, ...(yield* RawClient.registeredPair(gateway.url, gateway.did)) }
})

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway relay", (it) => {
  it.effect("relays OFFER, ANSWER, ICE_CANDIDATE and BYE byte for byte, and the receiver verifies them end to end", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const connection_id = crypto.randomUUID()
      const drafts = [
        { type: "OFFER" as const, payload: { connection_id, sdp: SDP } },
        { type: "ICE_CANDIDATE" as const, payload: { connection_id, candidate: "candidate:1 1 UDP 2122317823 192.168.1.10 54321 typ host", sdp_mid: "0" } },
        { type: "ICE_CANDIDATE" as const, payload: { connection_id, candidate: "", sdp_mid: "0" } },
        { type: "BYE" as const, payload: { connection_id, reason: "done" } }
      ]
      const receiver: Accept.AcceptContext = {
        maxFrameBytes: 65536,
        refuseType: (type) => Envelope.relayedTypes.has(type as Envelope.Type) ? undefined : "UNSUPPORTED_TYPE",
        expectedFrom: alice.did,
        checkTo: (header) => Effect.succeed(header.to === bob.did),
        replay: ReplayGuard.make()
      }
      for (const draft of drafts) {
        const text = Envelope.encode(yield* Envelope.make(alice, { ...draft, to: bob.did } as Envelope.Draft<Envelope.Type>))
        yield* a.send(text)
        const received = yield* b.next()
        assert.strictEqual(received, text)
        const accepted = yield* Accept.accept(received, receiver)
        assert.strictEqual(accepted.envelope.type, draft.type)
      }
      const answer = Envelope.encode(yield* Envelope.make(bob, { type: "ANSWER", to: alice.did, payload: { connection_id, sdp: SDP } }))
      yield* b.send(answer)
      assert.strictEqual(yield* a.next(), answer)
    }))

  it.effect("relays a frame as received, even when it is not how this library would write it", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const envelope = yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } })
      // Pretty-printed, keys in another order: still the same signed content.
      const { signature, ...unsigned } = envelope
      const text = JSON.stringify({ signature, ...unsigned }, null, 2)
      yield* a.send(text)
      assert.strictEqual(yield* b.next(), text)
    }))

  it.effect("answers UNKNOWN_AGENT, correlated, for a destination that is not registered", () =>
    Effect.gen(function*() {
      const { alice, a } = yield* pair
      const nobody = yield* Identity.generate
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: nobody.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      yield* a.send(Envelope.encode(offer))
      const error = yield* a.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "UNKNOWN_AGENT")
      assert.strictEqual(error.correlation_id, offer.id)
      assert.strictEqual(error.to, alice.did)
    }))

  it.effect("refuses a spoofed `from` (a frame signed by another agent) with UNAUTHORIZED and relays nothing", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const mallory = yield* Identity.generate
      const spoofed = yield* Envelope.make(mallory, { type: "OFFER", to: bob.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      yield* a.send(Envelope.encode(spoofed))
      const error = yield* a.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "UNAUTHORIZED")
      // Bob got nothing: the next frame he sees is a genuine one.
      const genuine = Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } }))
      yield* a.send(genuine)
      assert.strictEqual(yield* b.next(), genuine)
    }))

  it.effect("refuses a relayed frame whose signature does not verify (relay verification is on by default)", () =>
    Effect.gen(function*() {
      const { alice, bob, a } = yield* pair
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      yield* a.send(Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } }))
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "INVALID_SIGNATURE")
    }))

  it.effect("refuses a replayed frame with REPLAYED", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const text = Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } }))
      yield* a.send(text)
      assert.strictEqual(yield* b.next(), text)
      yield* a.send(text)
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "REPLAYED")
    }))

  it.effect("answers PING with a signed PONG carrying its sequence", () =>
    Effect.gen(function*() {
      const { gateway, alice, a } = yield* pair
      const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 42 } })
      yield* a.send(Envelope.encode(ping))
      const pong = yield* a.nextOfType("PONG")
      assert.strictEqual(pong.correlation_id, ping.id)
      assert.deepStrictEqual(pong.payload, { sequence: 42 })
      assert.isTrue(yield* Envelope.verify(pong))
    }))

  it.effect("relays each signaling type as the exact text sent, and refuses a payload its Schema refuses with step 11", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const connection_id = crypto.randomUUID()
      const valid = [
        yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id, sdp: SDP } }),
        yield* Envelope.make(alice, { type: "ANSWER", to: bob.did, payload: { connection_id, sdp: SDP } }),
        yield* Envelope.make(alice, { type: "ICE_CANDIDATE", to: bob.did, payload: { connection_id, candidate: "", sdp_mline_index: 0 } }),
        yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id, reason: "done", code: "TIMEOUT" } })
      ]
      for (const envelope of valid) {
        const text = Envelope.encode(envelope)
        yield* a.send(text)
        assert.strictEqual(yield* b.next(), text)
      }
      const invalid = [
        // Neither sdp_mid nor sdp_mline_index.
        yield* Envelope.make(alice, { type: "ICE_CANDIDATE", to: bob.did, payload: { connection_id, candidate: "" } as never }),
        yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id, code: "NOT_A_CODE" } as never }),
        yield* Envelope.make(alice, { type: "ANSWER", to: bob.did, payload: { connection_id, sdp: SDP, type: "answer" } as never })
      ]
      for (const envelope of invalid) {
        yield* a.send(Envelope.encode(envelope))
        const error = yield* a.nextOfType("ERROR")
        assert.strictEqual(error.payload.code, "MALFORMED_MESSAGE")
        assert.strictEqual(error.correlation_id, envelope.id)
        assert.match(error.payload.message, /^payload: /)
      }
      // Nothing of the refused ones reached bob: the next frame he gets is the next valid one.
      const last = Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id } }))
      yield* a.send(last)
      assert.strictEqual(yield* b.next(), last)
    }))

  it.effect("UNREGISTER removes the agent and closes with 1000", () =>
    Effect.gen(function*() {
      const { gateway, alice, bob, a, b } = yield* pair
      yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "UNREGISTER", to: gateway.did, payload: { reason: "bye" } })))
      assert.strictEqual((yield* a.closed).code, 1000)
      const offer = yield* Envelope.make(bob, { type: "OFFER", to: alice.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      yield* b.send(Envelope.encode(offer))
      assert.strictEqual((yield* b.nextOfType("ERROR")).payload.code, "UNKNOWN_AGENT")
    }))

  it.effect("refuses binary, non-JSON, schema-invalid and unsupported frames with their codes, and keeps the session", () =>
    Effect.gen(function*() {
      const { gateway, alice, bob, a, b } = yield* pair
      yield* a.send(new Uint8Array([1, 2, 3]))
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE")
      yield* a.send("{not json")
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE")
      yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id: "not-a-uuid", sdp: "" } as never })))
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "MALFORMED_MESSAGE")
      yield* a.send(Envelope.encode(yield* Envelope.make(alice, { type: "INTENT", to: gateway.did, payload: {} })))
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "UNSUPPORTED_TYPE")
      // The session still works.
      const bye = Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } }))
      yield* a.send(bye)
      assert.strictEqual(yield* b.next(), bye)
    }))

  it.effect("relays a burst from one agent in order, past the frames a session handles in one turn", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const frames: Array<string> = []
      for (let i = 0; i < 100; i++) {
        frames.push(Envelope.encode(yield* Envelope.make(alice, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } })))
      }
      // Written at once: they reach the gateway in a few reads.
      yield* Effect.sync(() => {
        for (const frame of frames) a.socket.send(frame)
      })
      const received: Array<string> = []
      for (let i = 0; i < frames.length; i++) received.push(yield* b.next())
      assert.deepStrictEqual(received, frames)
    }))

  it.effect("closes a session whose frame exceeds max_message_bytes with 1009", () =>
    Effect.gen(function*() {
      const { a } = yield* pair
      yield* a.send("x".repeat(65 * 1024))
      assert.strictEqual((yield* a.closed).code, 1009)
    }))
})

layer(Gateway.layerMemory(testConfig({ verifyRelaySignatures: false })), { excludeTestServices: true })("gateway relay without verification", (it) => {
  it.effect("relays a badly signed frame when relay verification is off; the receiver still refuses it", () =>
    Effect.gen(function*() {
      const { alice, bob, a, b } = yield* pair
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      const tampered = Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } })
      yield* a.send(tampered)
      const received = yield* b.next()
      assert.strictEqual(received, tampered)
      const error = yield* Effect.flip(Accept.accept(received, {
        maxFrameBytes: 65536,
        refuseType: () => undefined,
        checkTo: () => Effect.succeed(true),
        replay: ReplayGuard.make()
      }))
      assert.strictEqual(error.code, "INVALID_SIGNATURE")
      // Every other check still runs at the gateway: a spoofed sender is refused.
      const mallory = yield* Identity.generate
      yield* a.send(Envelope.encode(yield* Envelope.make(mallory, { type: "BYE", to: bob.did, payload: { connection_id: crypto.randomUUID() } })))
      assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "UNAUTHORIZED")
    }))
})
