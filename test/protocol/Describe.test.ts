import { assert, describe, it } from "@effect/vitest"
import { hex } from "@scure/base"
import { Effect, Schema } from "effect"
import * as Describe from "../../src/protocol/Describe.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { utf8ByteLength } from "../../src/protocol/Utf8.ts"
import { build } from "../vectors/describe.ts"
import vectors from "../vectors/describe.json" with { type: "json" }

describe("ioap.describe", () => {
  it.effect("the committed vectors are what describe.ts produces", () =>
    Effect.gen(function*() {
      const built = yield* build
      const { description: _, ...committed } = vectors
      assert.deepStrictEqual(JSON.parse(JSON.stringify(built)), committed)
    }))

  it.each(vectors.input_schemas)("input schema: $name", (vector) => {
    assert.strictEqual(Describe.checkInputSchema(vector.input_schema) ?? "accepted", vector.expected)
  })

  it.effect.each(vectors.answers)("answer: $name", (vector) =>
    Effect.gen(function*() {
      const decoded = yield* Effect.result(Describe.decode(vector.result))
      const expected = vector.expected
      if (typeof expected === "string") {
        assert.strictEqual(decoded._tag, "Failure")
        return
      }
      assert.strictEqual(decoded._tag, "Success")
      if (decoded._tag !== "Success") return
      assert.deepStrictEqual(
        decoded.success.capabilities.map((c) => ({ id: c.id, has_input_schema: c.input_schema !== undefined })),
        expected.capabilities
      )
      assert.deepStrictEqual(decoded.success.ignored as ReadonlyArray<{ readonly id: string; readonly problem: string }>, expected.ignored)
    }))

  it.effect.each(vectors.frames)("frame: $name is signed by its seed and its payload is valid", (vector) =>
    Effect.gen(function*() {
      const envelope = JSON.parse(vector.frame)
      const sender = yield* Identity.fromSeed(hex.decode(vector.sender_seed_hex))
      assert.strictEqual(envelope.from, sender.did)
      assert.isTrue(yield* Envelope.verify(envelope))
      yield* Schema.decodeUnknownEffect(Envelope.schemaFor(envelope.type))(envelope)
      if (envelope.type === "EXEC_RESPONSE") {
        const description = yield* Describe.decode(envelope.payload.result)
        assert.deepStrictEqual(description.capabilities.map((c) => c.id), ["echo"])
      }
    }))

  it.effect("a sender packs large answers into results that each fit one envelope, and leaves out schemas over the limits", () =>
    Effect.gen(function*() {
      const big = { type: "object", description: "x".repeat(8000) }
      const capabilities = Array.from({ length: 32 }, (_, i) => ({ id: `c${i}`, description: "d".repeat(1024), input_schema: big }))
      const results = Describe.answers([...capabilities, { id: "over", input_schema: { type: "object", description: "y".repeat(9000) } }])
      assert.isAbove(results.length, 1)
      for (const result of results) assert.isAtMost(utf8ByteLength(JSON.stringify(result)), Describe.MAX_RESULT_BYTES)
      // 32 at most: the 33rd is not sent; what a receiver reads back is what was sent.
      const read = yield* Describe.decode(results)
      assert.strictEqual(read.capabilities.length, 32)
      assert.deepStrictEqual(read.ignored, [])
      const small = Describe.answers([{ id: "over", input_schema: { type: "object", description: "y".repeat(9000) } }])
      assert.deepStrictEqual(small, [{ capabilities: [{ id: "over" }] }])
    }))

  it("depth counts objects and arrays", () => {
    assert.strictEqual(Describe.depth("x"), 0)
    assert.strictEqual(Describe.depth({}), 1)
    assert.strictEqual(Describe.depth({ a: [{ b: 1 }] }), 3)
  })
})
