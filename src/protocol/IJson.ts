/**
 * Strict I-JSON parsing (RFC 7493) for protocol frames.
 *
 * `JSON.parse` silently keeps the last of duplicate member names, accepts lone surrogates and
 * rounds large integers; a signed frame must mean exactly one thing, so frames are parsed with
 * momoa (a JSON parser that keeps every member) and then checked member by member.
 *
 * Fast path: when `JSON.stringify(JSON.parse(text)) === text` (every compact frame written by
 * `JSON.stringify`, such as our own), the text cannot hold a duplicate name — the
 * re-serialisation has each name once per object — so only strings and numbers need checking.
 * Any other text takes the momoa path.
 *
 * @since 0.1.0
 */
import * as Momoa from "@humanwhocodes/momoa"
import { Result, Schema } from "effect"

/** A text was not I-JSON. */
export class IJsonError extends Schema.TaggedError<IJsonError>()("IJsonError", {
  reason: Schema.String
}) {}

/** A JSON value as the protocol sees it. */
export type Json = null | boolean | number | string | ReadonlyArray<Json> | { readonly [key: string]: Json }

class Rejection {
  readonly reason: string
  constructor(reason: string) {
    this.reason = reason
  }
}

const toValue = (node: Momoa.ValueNode | Momoa.ElementNode["value"]): Json => {
  switch (node.type) {
    case "Object": {
      const object: Record<string, Json> = {}
      const names = new Set<string>()
      for (const member of node.members) {
        const name = member.name.type === "String" ? member.name.value : member.name.name
        if (names.has(name)) throw new Rejection(`duplicate member name ${JSON.stringify(name)}`)
        checkString(name, "a member name")
        names.add(name)
        // defineProperty keeps a member named "__proto__" an own property, as JSON.parse does.
        Object.defineProperty(object, name, { value: toValue(member.value), enumerable: true, writable: true, configurable: true })
      }
      return object
    }
    case "Array":
      return node.elements.map((element) => toValue(element.value))
    case "String":
      checkString(node.value, "a string")
      return node.value
    case "Number":
      checkNumber(node.value)
      return node.value
    case "Boolean":
      return node.value
    case "Null":
      return null
    default:
      throw new Rejection(`unexpected ${node.type}`)
  }
}

const checkNumber = (value: number): void => {
  if (!Number.isFinite(value)) throw new Rejection("a number is not finite")
  if (Number.isInteger(value) && !Number.isSafeInteger(value)) {
    throw new Rejection("an integer is beyond ±(2^53−1); send it as a string")
  }
}

const checkString = (value: string, what: string): void => {
  if (!value.isWellFormed()) throw new Rejection(`${what} holds a lone surrogate`)
}

/** The string and number checks of `toValue`, over a value `JSON.parse` built. */
const checkParsed = (value: unknown): void => {
  switch (typeof value) {
    case "string":
      return checkString(value, "a string")
    case "number":
      return checkNumber(value)
    case "object":
      if (value === null) return
      if (Array.isArray(value)) {
        for (const element of value) checkParsed(element)
        return
      }
      for (const name in value) {
        checkString(name, "a member name")
        checkParsed((value as Record<string, unknown>)[name])
      }
  }
}

const parseCompact = (text: string): Json | undefined => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  if (JSON.stringify(value) !== text) return undefined
  checkParsed(value)
  return value as Json
}

/** Checks that a value holds only what I-JSON allows: well-formed strings, finite numbers, safe integers. */
export const check = (value: unknown): Result.Result<void, IJsonError> => {
  try {
    checkParsed(value)
    return Result.void
  } catch (cause) {
    return Result.fail(new IJsonError({ reason: cause instanceof Rejection ? cause.reason : String(cause) }))
  }
}

/** Parses I-JSON text: no duplicate names at any depth, well-formed Unicode, safe integers only. */
export const parse = (text: string): Result.Result<Json, IJsonError> => {
  try {
    const compact = parseCompact(text)
    if (compact !== undefined) return Result.succeed(compact)
    return Result.succeed(toValue(Momoa.parse(text, { mode: "json" }).body))
  } catch (cause) {
    const reason = cause instanceof Rejection ? cause.reason : `not JSON: ${cause instanceof Error ? cause.message : String(cause)}`
    return Result.fail(new IJsonError({ reason }))
  }
}
