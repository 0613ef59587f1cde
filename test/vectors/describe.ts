/**
 * Builds test/vectors/describe.json: `ioap.describe` (PROTOCOL.md 5.3) — input schemas at and
 * over the limits, answers a receiver reads or refuses, and a signed request/answer pair.
 */
import { hex } from "@scure/base"
import { Effect } from "effect"
import * as Envelope from "../../src/protocol/Envelope.ts"
import { identities, seeds } from "../fixtures/samples.ts"

/** An object schema whose compact JSON is exactly `bytes` long (ASCII). */
const schemaOfSize = (bytes: number) => {
  const base = JSON.stringify({ type: "object", description: "" })
  return { type: "object", description: "x".repeat(bytes - base.length) }
}

/** A schema nested `depth` deep (the schema object itself is depth 1). */
const schemaOfDepth = (depth: number) => {
  let schema: Record<string, unknown> = { type: "string" }
  for (let i = 1; i < depth; i++) schema = { not: schema }
  return schema
}

export interface SchemaVector {
  readonly name: string
  readonly input_schema: unknown
  /** `accepted`, or the problem for which a receiver ignores it. */
  readonly expected: "accepted" | "not_an_object" | "not_an_object_schema" | "too_large" | "too_deep"
}

export interface AnswerVector {
  readonly name: string
  /** The result of the call: one answer, or the collected list of a streamed one. */
  readonly result: unknown
  /** What the receiver keeps: capability ids with or without a schema, and the ignored schemas; or `malformed`. */
  readonly expected:
    | { readonly capabilities: ReadonlyArray<{ readonly id: string; readonly has_input_schema: boolean }>; readonly ignored: ReadonlyArray<{ readonly id: string; readonly problem: string }> }
    | "malformed"
}

const T0 = Date.parse("2026-01-01T00:00:00.000Z")

export const build = Effect.gen(function*() {
  const ids = yield* identities
  const echoSchema = { type: "object", properties: { text: { type: "string", maxLength: 1000 } }, required: ["text"] }
  const schemas: Array<SchemaVector> = [
    { name: "an object schema", input_schema: echoSchema, expected: "accepted" },
    { name: "no type (args are an object anyway)", input_schema: { properties: { n: { type: "integer" } } }, expected: "accepted" },
    { name: "exactly 8192 bytes", input_schema: schemaOfSize(8192), expected: "accepted" },
    { name: "8193 bytes", input_schema: schemaOfSize(8193), expected: "too_large" },
    { name: "nesting depth 16", input_schema: schemaOfDepth(16), expected: "accepted" },
    { name: "nesting depth 17", input_schema: schemaOfDepth(17), expected: "too_deep" },
    { name: "type string", input_schema: { type: "string" }, expected: "not_an_object_schema" },
    { name: "an array", input_schema: [{ type: "object" }], expected: "not_an_object" },
    { name: "a string", input_schema: "object", expected: "not_an_object" }
  ]
  const answers: Array<AnswerVector> = [
    {
      name: "one answer",
      result: { capabilities: [{ id: "echo", description: "Echoes.", input_schema: echoSchema }, { id: "ping" }] },
      expected: { capabilities: [{ id: "echo", has_input_schema: true }, { id: "ping", has_input_schema: false }], ignored: [] }
    },
    {
      name: "a streamed answer in two parts",
      result: [{ capabilities: [{ id: "a", input_schema: echoSchema }] }, { capabilities: [{ id: "b" }] }],
      expected: { capabilities: [{ id: "a", has_input_schema: true }, { id: "b", has_input_schema: false }], ignored: [] }
    },
    {
      name: "an oversize and an invalid schema are ignored, their capabilities kept",
      result: { capabilities: [{ id: "big", input_schema: schemaOfSize(8193) }, { id: "odd", input_schema: { type: "array" } }] },
      expected: {
        capabilities: [{ id: "big", has_input_schema: false }, { id: "odd", has_input_schema: false }],
        ignored: [{ id: "big", problem: "too_large" }, { id: "odd", problem: "not_an_object_schema" }]
      }
    },
    { name: "no capabilities member", result: { tools: [] }, expected: "malformed" },
    { name: "input_schema that is not an object", result: { capabilities: [{ id: "x", input_schema: "object" }] }, expected: "malformed" },
    { name: "a capability without id", result: { capabilities: [{ description: "nameless" }] }, expected: "malformed" },
    {
      name: "33 capabilities",
      result: [{ capabilities: Array.from({ length: 17 }, (_, i) => ({ id: `c${i}` })) }, { capabilities: Array.from({ length: 16 }, (_, i) => ({ id: `d${i}` })) }],
      expected: "malformed"
    }
  ]
  // A describe request from alice to bob and bob's answer, signed from the fixed seeds.
  const request = yield* Envelope.sign(ids.alice, {
    version: "1.0",
    id: "00000000-0000-4000-8000-000000000d01",
    timestamp: Envelope.formatTimestamp(T0),
    from: ids.alice.did,
    to: ids.bob.did,
    type: "EXEC_REQUEST",
    payload: { capability: "ioap.describe", args: {}, timeout_ms: 10000 }
  } as Envelope.Unsigned)
  const response = yield* Envelope.sign(ids.bob, {
    version: "1.0",
    id: "00000000-0000-4000-8000-000000000d02",
    correlation_id: request.id,
    timestamp: Envelope.formatTimestamp(T0 + 5),
    from: ids.bob.did,
    to: ids.alice.did,
    type: "EXEC_RESPONSE",
    payload: { status: "success", result: { capabilities: [{ id: "echo", description: "Echoes.", input_schema: echoSchema }] }, execution_time_ms: 1 }
  } as Envelope.Unsigned)
  return {
    input_schemas: schemas,
    answers,
    frames: [
      { name: "describe request", sender_seed_hex: hex.encode(seeds.alice), frame: Envelope.encode(request) },
      { name: "describe answer", sender_seed_hex: hex.encode(seeds.bob), frame: Envelope.encode(response) }
    ]
  }
})
