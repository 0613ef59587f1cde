/**
 * UTF-8 lengths of strings, for the protocol's byte limits, without encoding them.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** The UTF-8 length of a string in bytes, computed without encoding it (a lone surrogate counts 3, as U+FFFD). */
export const utf8ByteLength = (s: string): number => {
  let bytes = 0
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i)
    if (unit < 0x80) bytes += 1
    else if (unit < 0x800) bytes += 2
    else if (unit >= 0xd800 && unit <= 0xdbff && isLowSurrogate(s.charCodeAt(i + 1))) {
      bytes += 4
      i++
    } else bytes += 3
  }
  return bytes
}

const isLowSurrogate = (unit: number): boolean => unit >= 0xdc00 && unit <= 0xdfff

/** Whether a string is at most `max` UTF-8 bytes; its length alone decides most cases. */
export const fitsUtf8Bytes = (s: string, max: number): boolean =>
  s.length * 3 <= max || (s.length <= max && utf8ByteLength(s) <= max)

/** A Schema check that a string is at most `max` bytes long in UTF-8. */
export const isMaxUtf8Bytes = (max: number) =>
  Schema.makeFilter((s: string) => fitsUtf8Bytes(s, max) || `longer than ${max} UTF-8 bytes`, {
    description: `at most ${max} UTF-8 bytes`
  })
