import { assert, describe, it } from "@effect/vitest"
import { Schema } from "effect"
import { ConnectionState, IceConnectionState, SignalingState } from "../../../src/webrtc/peer/PeerStates.ts"

describe("states", () => {
  it("ConnectionState is RTCPeerConnectionState", () => {
    for (const state of ["new", "connecting", "connected", "disconnected", "failed", "closed"]) {
      assert.isTrue(Schema.is(ConnectionState)(state), state)
    }
    assert.isFalse(Schema.is(ConnectionState)("checking"))
    assert.isFalse(Schema.is(ConnectionState)("completed"))
  })

  it("IceConnectionState is RTCIceConnectionState", () => {
    for (const state of ["new", "checking", "connected", "completed", "failed", "disconnected", "closed"]) {
      assert.isTrue(Schema.is(IceConnectionState)(state), state)
    }
    assert.isFalse(Schema.is(IceConnectionState)("connecting"))
  })

  it("SignalingState has no provisional answer states", () => {
    for (const state of ["stable", "have-local-offer", "have-remote-offer"]) {
      assert.isTrue(Schema.is(SignalingState)(state), state)
    }
    assert.isFalse(Schema.is(SignalingState)("have-local-pranswer"))
    assert.isFalse(Schema.is(SignalingState)("closed"))
  })
})
