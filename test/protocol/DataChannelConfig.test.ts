import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import { DataChannelConfig } from "../../src/protocol/DataChannelConfig.ts"
import { failureMessage } from "./failureMessage.ts"

describe("DataChannelConfig", () => {
  const decode = Schema.decodeUnknownResult(DataChannelConfig)

  it("accepts the control channel and a negotiated partially reliable channel", () => {
    const control = { label: "ioap", ordered: true, protocol: "ioap.v1" }
    assert.deepStrictEqual(Result.getOrThrow(decode(control)), control)
    const negotiated = { label: "", ordered: false, maxPacketLifeTime: 500, negotiated: true, id: 0 }
    assert.deepStrictEqual(Result.getOrThrow(decode(negotiated)), negotiated)
    assert.deepStrictEqual(Result.getOrThrow(decode({ label: "x", maxRetransmits: 0, negotiated: false })), {
      label: "x",
      maxRetransmits: 0,
      negotiated: false
    })
    assert.isTrue(Result.isSuccess(decode({ label: "x", negotiated: true, id: 65534 })))
  })

  it("rejects maxRetransmits together with maxPacketLifeTime", () => {
    assert.include(
      failureMessage(decode({ label: "x", maxRetransmits: 3, maxPacketLifeTime: 100 })),
      "maxRetransmits and maxPacketLifeTime cannot both be set"
    )
  })

  it("requires an id on a negotiated channel", () => {
    assert.include(failureMessage(decode({ label: "x", negotiated: true })), "a negotiated channel needs an id")
  })

  it("rejects an id without negotiated: true", () => {
    assert.include(failureMessage(decode({ label: "x", id: 1 })), "an id is only given with negotiated: true")
    assert.include(failureMessage(decode({ label: "x", negotiated: false, id: 1 })), "an id is only given with negotiated: true")
  })

  it("checks ranges", () => {
    assert.include(failureMessage(decode({ label: "x", negotiated: true, id: 65535 })), "id")
    assert.include(failureMessage(decode({ label: "x", negotiated: true, id: -1 })), "id")
    assert.include(failureMessage(decode({ label: "x", maxRetransmits: 65536 })), "maxRetransmits")
    assert.include(failureMessage(decode({ label: "x", maxRetransmits: 1.5 })), "maxRetransmits")
    assert.include(failureMessage(decode({ label: "x", maxPacketLifeTime: -1 })), "maxPacketLifeTime")
  })

  it("limits label and protocol to 65535 UTF-8 bytes", () => {
    assert.isTrue(Result.isSuccess(decode({ label: "€".repeat(21845) })))
    assert.include(failureMessage(decode({ label: `${"€".repeat(21845)}x` })), "label")
    assert.include(failureMessage(decode({ label: "x", protocol: "p".repeat(65536) })), "protocol")
  })

  it("omits optional members: null and undefined are rejected", () => {
    assert.include(failureMessage(decode({ label: "x", ordered: null })), "ordered")
    assert.include(failureMessage(decode({ label: "x", ordered: undefined })), "ordered")
    assert.include(failureMessage(decode({ label: "x", protocol: undefined })), "protocol")
    assert.include(failureMessage(decode({})), "label")
  })
})
