/**
 * `ioap.describe` (PROTOCOL.md 5.3): the reserved capability every agent serves, answering its
 * capabilities with an optional `input_schema` each. Schemas travel peer to peer only, so the
 * directory (REGISTER, PEERS) stays small.
 *
 * An answer is one or more results `{ "capabilities": [...] }` (streamed as `partial` responses
 * when they would not fit one envelope); the receiver concatenates their `capabilities`. A
 * receiver ignores an `input_schema` that is oversize or invalid (the capability stays, without a
 * schema) and refuses an answer that does not have this shape.
 *
 * @since 0.1.0
 */
import { Effect, Schema } from "effect"
import * as Envelope from "./Envelope.ts"
import { utf8ByteLength } from "./Utf8.ts"

/** The reserved capability id. */
export const DESCRIBE = "ioap.describe"

/** Limits of one `input_schema`: its compact JSON in UTF-8 bytes, and its nesting depth. */
export const MAX_INPUT_SCHEMA_BYTES = 8192
export const MAX_INPUT_SCHEMA_DEPTH = 16
/** At most this many capabilities in one answer, as in REGISTER. */
export const MAX_CAPABILITIES = 32
/** A sender packs its answer in results of at most this many bytes of JSON (one envelope is 64 KiB). */
export const MAX_RESULT_BYTES = 48 * 1024

/** A JSON Schema object for a capability's `args`. */
export type InputSchema = { readonly [key: string]: Schema.Json }

/** Why an `input_schema` is ignored. */
export type SchemaProblem = "not_an_object" | "not_an_object_schema" | "too_large" | "too_deep"

/** The nesting depth of a JSON value: a scalar is 0, an object or array one more than its deepest member. */
export const depth = (value: unknown): number => {
  if (typeof value !== "object" || value === null) return 0
  let deepest = 0
  for (const member of Array.isArray(value) ? value : Object.values(value)) {
    const d = depth(member)
    if (d > deepest) deepest = d
  }
  return deepest + 1
}

/** Depth bounded at `limit + 1`, so a hostile deep value costs no more than the limit. */
const depthExceeds = (value: unknown, limit: number): boolean => {
  if (typeof value !== "object" || value === null) return false
  if (limit === 0) return true
  for (const member of Array.isArray(value) ? value : Object.values(value)) {
    if (depthExceeds(member, limit - 1)) return true
  }
  return false
}

/**
 * Checks an `input_schema`: a JSON object, whose `type` (when present) is `"object"` (args are
 * always an object), at most 8 KiB as compact UTF-8 JSON and nested at most 16 deep.
 */
export const checkInputSchema = (value: unknown): SchemaProblem | undefined => {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "not_an_object"
  if (depthExceeds(value, MAX_INPUT_SCHEMA_DEPTH)) return "too_deep"
  if (utf8ByteLength(JSON.stringify(value)) > MAX_INPUT_SCHEMA_BYTES) return "too_large"
  const type = (value as { readonly type?: unknown }).type
  if (type !== undefined && type !== "object") return "not_an_object_schema"
  return undefined
}

/** A capability as `ioap.describe` answers it. */
export const DescribedCapability = Schema.Struct({
  ...Envelope.Capability.fields,
  input_schema: Schema.optionalKey(Envelope.JsonObject)
})
export type DescribedCapability = typeof DescribedCapability.Type

/** One result of an `ioap.describe` answer. */
export const Answer = Schema.Struct({
  capabilities: Schema.Array(DescribedCapability).check(Schema.isMaxLength(MAX_CAPABILITIES))
})
export type Answer = typeof Answer.Type

/** The answer was not `{ capabilities: [...] }` (or a list of them), or had too many capabilities. */
export class MalformedDescription extends Schema.TaggedError<MalformedDescription>()("MalformedDescription", {
  reason: Schema.String
}) {
  override get message() {
    return `malformed ${DESCRIBE} answer: ${this.reason}`
  }
}

/** What a receiver keeps of an answer: the capabilities, and the schemas it ignored and why. */
export interface Description {
  readonly capabilities: ReadonlyArray<DescribedCapability>
  readonly ignored: ReadonlyArray<{ readonly id: string; readonly problem: SchemaProblem }>
}

const decodeAnswers = Schema.decodeUnknownEffect(Schema.Union([Answer, Schema.Array(Answer).check(Schema.isMaxLength(MAX_CAPABILITIES))]))

/**
 * Reads the result of an `ioap.describe` call (one result, or the collected list of a streamed
 * answer). Capabilities beyond 32 or an ill-shaped answer fail; an oversize or invalid
 * `input_schema` is dropped from its capability and reported in `ignored`.
 */
export const decode = (result: unknown): Effect.Effect<Description, MalformedDescription> =>
  decodeAnswers(result).pipe(
    Effect.mapError((error) => new MalformedDescription({ reason: error.message.slice(0, 512) })),
    Effect.flatMap((decoded) => {
      const all = (Array.isArray(decoded) ? decoded as ReadonlyArray<Answer> : [decoded as Answer]).flatMap((a) => a.capabilities)
      if (all.length > MAX_CAPABILITIES) {
        return Effect.fail(new MalformedDescription({ reason: `${all.length} capabilities, over ${MAX_CAPABILITIES}` }))
      }
      const ignored: Array<{ id: string; problem: SchemaProblem }> = []
      const capabilities = all.map((capability) => {
        if (capability.input_schema === undefined) return capability
        const problem = checkInputSchema(capability.input_schema)
        if (problem === undefined) return capability
        ignored.push({ id: capability.id, problem })
        const { input_schema: _, ...rest } = capability
        return rest
      })
      return Effect.succeed({ capabilities, ignored })
    })
  )

/**
 * The results an agent answers `ioap.describe` with: its capabilities packed in order into
 * results of at most `MAX_RESULT_BYTES` of JSON (one result when they fit). Schemas that break
 * the limits are left out (a sender never sends what a receiver would ignore).
 */
export const answers = (capabilities: ReadonlyArray<DescribedCapability>): ReadonlyArray<Answer> => {
  const results: Array<Array<DescribedCapability>> = [[]]
  let size = 0
  for (const described of capabilities.slice(0, MAX_CAPABILITIES)) {
    const capability = described.input_schema === undefined || checkInputSchema(described.input_schema) === undefined
      ? described
      : (({ input_schema: _, ...rest }) => rest)(described)
    const bytes = utf8ByteLength(JSON.stringify(capability)) + 1
    const current = results[results.length - 1]!
    if (current.length > 0 && size + bytes > MAX_RESULT_BYTES) {
      results.push([capability])
      size = bytes
    } else {
      current.push(capability)
      size += bytes
    }
  }
  return results.map((capabilities) => ({ capabilities }))
}
