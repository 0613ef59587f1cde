/**
 * Agent capabilities with input schemas: `ioap.describe` over a real data channel, `Capability.make`
 * from an effect Schema, and `CapabilityError` codes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schema } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import * as Capability from "../../src/agent/Capability.ts"
import { CapabilityError } from "../../src/agent/CapabilityError.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Describe from "../../src/protocol/Describe.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { agent } from "./fixtures.ts"

describe("capabilities with input schemas", () => {
  it.live("ioap.describe answers the schemas; Capability.make decodes args; CapabilityError codes reach the caller", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      // Enough large schemas that the answer spans several envelopes.
      const big = Array.from({ length: 12 }, (_, i) => ({
        capability: { id: `big${i}`, description: "d".repeat(1000) },
        inputSchema: { type: "object", description: "s".repeat(7900) },
        handler: () => Effect.succeed(null)
      }))
      const bob = yield* agent(gateway.url, {
        serve: [
          Capability.make({
            capability: { id: "add", description: "Adds." },
            args: Schema.Struct({ a: Schema.Finite, b: Schema.Finite }),
            handler: ({ a, b }) => Effect.succeed(a + b)
          }),
          { capability: { id: "picky" }, handler: () => Effect.fail(new CapabilityError({ code: "QUOTA_EXCEEDED", reason: "come back tomorrow" })) },
          // The reserved id is not served from here: the agent's own ioap.describe answers.
          { capability: { id: Describe.DESCRIBE }, handler: () => Effect.succeed("hijacked") },
          ...big
        ]
      })
      const alice = yield* agent(gateway.url)
      const listed = yield* alice.discover({})
      assert.notInclude(listed.find((e) => e.did === bob.did)!.capabilities.map((c) => c.id), Describe.DESCRIBE)

      const session = yield* alice.connect(bob.did)
      const description = yield* Describe.decode(yield* session.request(Describe.DESCRIBE, {}))
      assert.deepStrictEqual(description.capabilities.map((c) => c.id), ["add", "picky", ...big.map((b) => b.capability.id)])
      assert.deepStrictEqual(description.capabilities[0]!.input_schema, {
        type: "object",
        properties: { a: { type: "number" }, b: { type: "number" } },
        required: ["a", "b"],
        additionalProperties: true
      })
      assert.strictEqual(description.capabilities[1]!.input_schema, undefined)
      assert.strictEqual(description.capabilities[2]!.input_schema?.description, "s".repeat(7900))

      assert.strictEqual(yield* session.request("add", { a: 2, b: 3 }), 5)
      const invalid = yield* Effect.flip(session.request("add", { a: "2" }))
      assert.strictEqual(invalid.code, "INVALID_ARGS")
      const picky = yield* Effect.flip(session.request("picky", {}))
      assert.deepStrictEqual([picky.code, picky.reason], ["QUOTA_EXCEEDED", "come back tomorrow"])
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
