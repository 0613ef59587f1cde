/**
 * Strict I-JSON parsing (RFC 7493) for protocol frames.
 *
 * `JSON.parse` silently keeps the last of duplicate member names, accepts lone surrogates and
 * rounds large integers; a signed frame must mean exactly one thing, so after `JSON.parse` the
 * value is checked member by member, and the members are counted twice — the name-colons of the
 * text (one per member written, duplicates included) and the own names of the parsed objects
 * (one per distinct name). Equal counts mean no object held a name twice.
 *
 * Every path is one `JSON.parse` and linear scans of the text: a frame that is refused costs no
 * more than one that is accepted (a second, slower parser to word the problem would let
 * duplicate-key frames buy CPU time). Unequal counts in a text of at most `NAMED_DUPLICATE_CHARS`
 * are worded by a scan that finds the first duplicated name; in a longer one that scan would add
 * half the cost again (0.56 ms to 1.1 ms for 60 KB), so the reason says only that a name is
 * duplicated.
 *
 * @since 0.1.0
 */
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

/** The index of the quote that closes the string opening at `open`. */
const closingQuote = (text: string, open: number): number => {
  let close = open
  while (true) {
    close = text.indexOf("\"", close + 1)
    let backslashes = 0
    while (text.charCodeAt(close - 1 - backslashes) === BACKSLASH) backslashes++
    if (backslashes % 2 === 0) return close
  }
}

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
    at = closingQuote(text, open) + 1
  }
}

const QUOTE = 34
const COLON = 58
const OPEN_OBJECT = 123
const CLOSE_OBJECT = 125
const OPEN_ARRAY = 91
const CLOSE_ARRAY = 93

const isWhitespace = (code: number): boolean => code === 32 || code === 9 || code === 10 || code === 13

/** The first member name written twice in one object of a text `JSON.parse` accepted. */
const firstDuplicate = (text: string): string | undefined => {
  // One entry per open object (its names so far) or array (undefined).
  const open: Array<Set<string> | undefined> = []
  for (let at = 0; at < text.length; at++) {
    const code = text.charCodeAt(at)
    if (code === OPEN_OBJECT) open.push(new Set())
    else if (code === OPEN_ARRAY) open.push(undefined)
    else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) open.pop()
    else if (code === QUOTE) {
      const close = closingQuote(text, at)
      let next = close + 1
      while (isWhitespace(text.charCodeAt(next))) next++
      const names = open[open.length - 1]
      if (names !== undefined && text.charCodeAt(next) === COLON) {
        const literal = text.slice(at, close + 1)
        const name = literal.includes("\\") ? JSON.parse(literal) as string : literal.slice(1, -1)
        if (names.has(name)) return name
        names.add(name)
      }
      at = close
    }
  }
  return undefined
}

/** Texts up to this length name their first duplicated member when refused (a scan of ~0.04 ms at 4 KiB). */
export const NAMED_DUPLICATE_CHARS = 4096

const parseText = (text: string): Json => {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (cause) {
    throw new Rejection(`not JSON: ${cause instanceof Error ? cause.message : String(cause)}`)
  }
  if (checkParsed(value) === countMembers(text)) return value as Json
  const duplicate = text.length <= NAMED_DUPLICATE_CHARS ? firstDuplicate(text) : undefined
  throw new Rejection(duplicate === undefined ? "a member name is duplicated" : `duplicate member name ${JSON.stringify(duplicate)}`)
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
    return Result.succeed(parseText(text))
  } catch (cause) {
    return Result.fail(new IJsonError({ reason: cause instanceof Rejection ? cause.reason : String(cause) }))
  }
}
