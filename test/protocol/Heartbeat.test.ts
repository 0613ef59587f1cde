/**
 * The heartbeat frames (PROTOCOL.md 4.3): their text is the Schemas' encoding, they are shorter
 * than any envelope can be, and a short frame is read through the Schema (strictly).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"

describe("Heartbeat", () => {
  it("the frames are the Schemas' JSON encodings", () => {
    assert.strictEqual(Heartbeat.FRAME, `{"type":"HEARTBEAT"}`)
    assert.strictEqual(Heartbeat.ACK_FRAME, `{"type":"HEARTBEAT_ACK"}`)
    assert.deepStrictEqual(Schema.decodeUnknownSync(Schema.fromJsonString(Heartbeat.Heartbeat))(Heartbeat.FRAME), { type: "HEARTBEAT" })
    assert.deepStrictEqual(Schema.decodeUnknownSync(Schema.fromJsonString(Heartbeat.HeartbeatAck))(Heartbeat.ACK_FRAME), { type: "HEARTBEAT_ACK" })
  })

  it.effect("every envelope is longer than MAX_CHARS, so length alone tells a heartbeat from an envelope", () =>
    Effect.gen(function*() {
      const agent = yield* Identity.generate
      const gateway = yield* Identity.generate
      // The smallest envelopes there are: an empty payload, with and without `to`.
      const ping = Envelope.encode(yield* Envelope.make(agent, { type: "PING", to: gateway.did, payload: {} }))
      const challenge = Envelope.encode(yield* Envelope.make(gateway, { type: "CHALLENGE", payload: { nonce: "A".repeat(43) } }))
      assert.isAbove(Math.min(ping.length, challenge.length), 200)
      assert.isTrue(Heartbeat.isShort(Heartbeat.FRAME))
      assert.isTrue(Heartbeat.isShort(Heartbeat.ACK_FRAME))
      assert.isFalse(Heartbeat.isShort(ping))
    }))

  it("reads the frames and their other spellings, and refuses anything else with a reason", () => {
    assert.deepStrictEqual(Result.getOrThrow(Heartbeat.readHeartbeat(Heartbeat.FRAME)), { type: "HEARTBEAT" })
    assert.deepStrictEqual(Result.getOrThrow(Heartbeat.readHeartbeat(` {"type" : "HEARTBEAT"}\n`)), { type: "HEARTBEAT" })
    assert.deepStrictEqual(Result.getOrThrow(Heartbeat.readAck(Heartbeat.ACK_FRAME)), { type: "HEARTBEAT_ACK" })
    for (const text of [Heartbeat.ACK_FRAME, `{"type":"HEARTBEAT","n":1}`, `{"type":"HEARTBEAT","type":"HEARTBEAT"}`, `{}`, `[]`, `"HEARTBEAT"`, `{"type":`]) {
      const read = Heartbeat.readHeartbeat(text)
      assert.isTrue(Result.isFailure(read), text)
      if (Result.isFailure(read)) assert.isAbove(read.failure.reason.length, 0)
    }
    assert.isTrue(Result.isFailure(Heartbeat.readAck(Heartbeat.FRAME)))
  })
})
