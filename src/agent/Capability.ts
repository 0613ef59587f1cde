/**
 * Capabilities whose handler is written in Effect against an `effect/Schema` of its arguments:
 * the arguments are decoded before the handler runs (a mismatch is answered `INVALID_ARGS`), and
 * the Schema's JSON Schema is the capability's `input_schema` in `ioap.describe`.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import { Tool } from "effect/ai"
import type { Did } from "../protocol/Did.ts"
import type * as Describe from "../protocol/Describe.ts"
import type * as Envelope from "../protocol/Envelope.ts"
import type { Result, Served } from "./Agent.ts"
import { CapabilityError } from "./CapabilityError.ts"

/** The JSON Schema of an `effect/Schema` of arguments (an object schema). */
export const inputSchemaOf = (schema: Schema.Constraint): Describe.InputSchema =>
  Tool.getJsonSchemaFromSchema(schema) as Describe.InputSchema

/** A served capability whose `args` are decoded with `args` and described by its JSON Schema. */
export const make = <S extends Schema.Codec<any, any, never, never>>(options: {
  readonly capability: Envelope.Capability
  readonly args: S
  readonly handler: (args: S["Type"], from: Did) => Effect.Effect<Result, unknown>
}): Served => {
  const decode = Schema.decodeUnknownEffect(options.args)
  return {
    capability: options.capability,
    inputSchema: inputSchemaOf(options.args),
    handler: (args, from) =>
      decode(args).pipe(
        Effect.mapError((error) => new CapabilityError({ code: "INVALID_ARGS", reason: error.message.slice(0, 1024) })),
        Effect.flatMap((decoded) => options.handler(decoded, from))
      )
  }
}
