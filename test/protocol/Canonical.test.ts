import { assert, describe, it } from "@effect/vitest"
import { hex } from "@scure/base"
import canonicalize from "canonicalize"
import * as Envelope from "../../src/protocol/Envelope.ts"
import vectors from "../vectors/rfc8785-jcs.json" with { type: "json" }

const float = (ieee754: string): number => new DataView(hex.decode(ieee754).buffer).getFloat64(0)

describe("RFC 8785 canonical JSON (the signed form)", () => {
  it.each(vectors.canonicalization)("$name", (vector) => {
    assert.strictEqual(canonicalize(JSON.parse(vector.input)), vector.expected)
    if ("expectedUtf8Hex" in vector) {
      assert.strictEqual(hex.encode(new TextEncoder().encode(canonicalize(JSON.parse(vector.input)))), vector.expectedUtf8Hex)
    }
  })

  it.each(vectors.numbers)("serialises the IEEE-754 value $ieee754 as $expected", (vector) => {
    assert.strictEqual(canonicalize(float(vector.ieee754)), vector.expected)
  })

  it("signs over IoAP-v1, a line feed and the canonical form without `signature`, as fixed bytes", () => {
    const unsigned = {
      version: "1.0",
      type: "INTENT",
      payload: { query: "café ☕ 𝄞 — \u0007", params: { z: [1, { b: true, a: null }], a: "日本", "€": 1, "\r": 2 } },
      signature: "ignored"
    }
    const expected = "IoAP-v1\n" +
      `{"payload":{"params":{"\\r":2,"a":"日本","z":[1,{"a":null,"b":true}],"€":1},` +
      `"query":"café ☕ 𝄞 — \\u0007"},"type":"INTENT","version":"1.0"}`
    const bytes = Envelope.signingBytes(unsigned)
    assert.strictEqual(new TextDecoder().decode(bytes), expected)
    // The same bytes in hex (encoded independently of this code), to compare byte for byte.
    assert.strictEqual(
      hex.encode(bytes),
      "496f41502d76310a7b227061796c6f6164223a7b22706172616d73223a7b225c72223a322c2261223a22e697a5e69cac222c227a223a5b312c7b2261223a6e756c6c2c2262223a747275657d5d2c22e282ac223a317d2c227175657279223a22636166c3a920e2989520f09d849e20e28094205c7530303037227d2c2274797065223a22494e54454e54222c2276657273696f6e223a22312e30227d"
    )
  })
})
