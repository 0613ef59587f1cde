/**
 * Random operations against every Layer: the machines' states always equal what the stack reports,
 * and an operation the machines refuse never reaches the stack.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Scope } from "effect"
import fc from "fast-check"
import * as PeerConnection from "../../../src/webrtc/peer/PeerConnection.ts"
import { Transport } from "../../../src/webrtc/peer/Transport.ts"
import { allTransports } from "../fixtures.ts"

const OPERATIONS = ["createOffer", "acceptOffer", "createAnswer", "acceptAnswer", "createDataChannel", "rollback", "close"] as const
type Operation = (typeof OPERATIONS)[number]
const STACK_METHODS = ["createOffer", "createAnswer", "setLocalDescription", "setRemoteDescription", "createDataChannel"] as const

const sequences = fc.sample(fc.array(fc.constantFrom(...OPERATIONS), { minLength: 1, maxLength: 7 }), { numRuns: 12, seed: 20261126 })

/** A peer connection whose stack records every call made to it. */
const spied = Effect.gen(function*() {
  const transport = yield* Transport
  const native = yield* transport.create({ iceServers: [] })
  const calls: Array<string> = []
  const pc = native.pc as unknown as Record<string, (...args: Array<unknown>) => unknown>
  for (const method of STACK_METHODS) {
    const original = pc[method]!.bind(native.pc)
    pc[method] = (...args) => {
      calls.push(method)
      return original(...args)
    }
  }
  const peer = yield* PeerConnection.make(native, { maxMessageSize: transport.maxMessageSize })
  return { peer, native, calls }
})

/** A fresh offer from another connection of the same stack. */
const remoteOffer = Effect.gen(function*() {
  const transport = yield* Transport
  const other = yield* PeerConnection.make(yield* transport.create({ iceServers: [] }), { maxMessageSize: transport.maxMessageSize })
  yield* other.createDataChannel({ label: "x" })
  return yield* other.createOffer
})

/** An answer to `offer` from another connection of the same stack. */
const remoteAnswer = (offer: string) =>
  Effect.gen(function*() {
    const transport = yield* Transport
    const other = yield* PeerConnection.make(yield* transport.create({ iceServers: [] }), { maxMessageSize: transport.maxMessageSize })
    yield* other.acceptOffer(transport.prepareRemoteOffer(offer, { failedAttempts: 0 }).sdp)
    return yield* other.createAnswer
  })

const stackSignaling = (pc: RTCPeerConnection, connection: string) => (connection === "closed" ? "closed" : pc.signalingState)

/** Runs one sequence on a fresh spied connection. */
const runSequence = (sequence: ReadonlyArray<Operation>) =>
  Effect.gen(function*() {
    const { calls, native, peer } = yield* spied
    let lastOffer = ""
    for (const operation of sequence) {
      const run: Effect.Effect<unknown, unknown, Scope.Scope | Transport> = operation === "createOffer"
        ? Effect.tap(peer.createOffer, (sdp) => Effect.sync(() => (lastOffer = sdp)))
        : operation === "acceptOffer"
        ? Effect.flatMap(remoteOffer, peer.acceptOffer)
        : operation === "createAnswer"
        ? peer.createAnswer
        : operation === "acceptAnswer"
        ? Effect.flatMap(lastOffer === "" ? remoteOffer : remoteAnswer(lastOffer), peer.acceptAnswer)
        : operation === "createDataChannel"
        ? peer.createDataChannel({ label: `c${calls.length}` })
        : operation === "rollback"
        ? peer.rollback
        : peer.close
      // Remote SDPs come from other connections; only calls on the spied one are counted.
      const before = calls.length
      const result = yield* Effect.result(run)
      if (result._tag === "Failure" && (result.failure as { readonly _tag?: string })._tag === "InvalidTransition") {
        assert.strictEqual(calls.length, before, `${operation} was refused but reached the stack (${sequence.join(", ")})`)
      }
      const machine = yield* peer.signaling.state
      const connection = yield* peer.connection.state
      assert.strictEqual(machine, stackSignaling(native.pc, connection), `after ${operation} in ${sequence.join(", ")}`)
    }
  }).pipe(Effect.scoped)

describe.each(allTransports)("operations on %s", (_name, makeTransport) => {
  it.live("random operation sequences: machine state = stack state; refused operations never reach the stack", () =>
    Effect.gen(function*() {
      const layer = yield* makeTransport
      yield* Effect.forEach(sequences, runSequence, { discard: true }).pipe(Effect.provide(layer))
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("refuses a second offer while one is pending, an answer without a local offer, and anything once closed", () =>
    Effect.gen(function*() {
      const layer = yield* makeTransport
      yield* Effect.gen(function*() {
        const { calls, peer } = yield* spied
        // As PROTOCOL.md 5.3 has it, the offerer creates the control channel before its offer.
        yield* peer.createDataChannel({ label: "ioap", protocol: "ioap.v1" })
        yield* peer.createOffer
        const offers = calls.filter((c) => c === "createOffer").length
        const second = yield* Effect.flip(peer.createOffer)
        assert.strictEqual(second._tag, "InvalidTransition")
        assert.strictEqual(calls.filter((c) => c === "createOffer").length, offers)
        const answer = yield* Effect.flip(peer.createAnswer)
        assert.strictEqual(answer._tag, "InvalidTransition")
        yield* peer.close
        yield* peer.close
        for (const refused of [peer.createOffer, peer.createDataChannel({ label: "late" }), peer.addRemoteCandidate({ candidate: "" })]) {
          const error = yield* Effect.flip(refused)
          assert.strictEqual(error._tag, "InvalidTransition")
        }
      }).pipe(Effect.scoped, Effect.provide(layer))
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
