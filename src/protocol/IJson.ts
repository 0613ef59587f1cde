/**
 * Strict I-JSON parsing (RFC 7493) for protocol frames.
 *
 * `JSON.parse` silently keeps the last of duplicate member names, accepts lone surrogates and
 * rounds large integers; a signed frame must mean exactly one thing, so frames are parsed with
 * momoa (a JSON parser that keeps every member) and then checked member by member.
 *
 * Fast path: `JSON.parse`, then the members are counted twice — the name-colons of the text
 * (one per member written, duplicates included) and the own names of the parsed objects (one
 * per distinct name). Equal counts mean no object held a name twice, so only strings and
 * numbers need checking. Any other outcome (not JSON, a duplicate, a bad string or number)
 * takes the momoa path, which finds and words the first problem.
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

/**
 * The string and number checks of `toValue`, over a value `JSON.parse` built; returns how many
 * object members it holds (own names, so a duplicated name counts once).
 */
const checkParsed = (value: unknown): number => {
  switch (typeof value) {
    case "string":
      checkString(value, "a string")
      return 0
    case "number":
      checkNumber(value)
      return 0
    case "object": {
      if (value === null) return 0
      let members = 0
      if (Array.isArray(value)) {
        for (const element of value) members += checkParsed(element)
        return members
      }
      for (const name in value) {
        checkString(name, "a member name")
        members += 1 + checkParsed((value as Record<string, unknown>)[name])
      }
      return members
    }
    default:
      return 0
  }
}

const BACKSLASH = 92

/**
 * The members written in a text that `JSON.parse` accepted: the colons outside strings (each
 * member has exactly one; strings are skipped quote to quote, minding escaped quotes).
 */
const countMembers = (text: string): number => {
  let members = 0
  let at = 0
  while (true) {
    const open = text.indexOf("\"", at)
    const gapEnd = open < 0 ? text.length : open
    for (let colon = text.indexOf(":", at); colon >= 0 && colon < gapEnd; colon = text.indexOf(":", colon + 1)) members++
    if (open < 0) return members
    let close = open
    while (true) {
      close = text.indexOf("\"", close + 1)
      let backslashes = 0
      while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++
      if (backslashes % 2 === 0) break
    }
    at = close + 1
  }
}

const parseFast = (text: string): Json | undefined => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return undefined
  }
  let members: number
  try {
    members = checkParsed(value)
  } catch {
    return undefined
  }
  return members === countMembers(text) ? (value as Json) : undefined
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
    const fast = parseFast(text)
    if (fast !== undefined) return Result.succeed(fast)
    return Result.succeed(toValue(Momoa.parse(text, { mode: "json" }).body))
  } catch (cause) {
    const reason = cause instanceof Rejection ? cause.reason : `not JSON: ${cause instanceof Error ? cause.message : String(cause)}`
    return Result.fail(new IJsonError({ reason }))
  }
}
