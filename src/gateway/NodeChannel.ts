/**
 * What cluster nodes publish on each other's routing channel: relayed frames, each with the DID it
 * is for, byte for byte as the sending agent wrote them.
 *
 * - One frame: `<did>\n<frame>` (the frame may itself hold newlines).
 * - Several frames for the same node, published together (one PUBLISH per node and event-loop
 *   turn instead of one per frame): `*<count>\n` then, per frame, `<did>\n<length>\n<frame>`, the
 *   length in UTF-16 code units (JavaScript string length). A DID never starts with `*`.
 *
 * Anything else, or a batch whose parts do not add up, decodes as `undefined`: it is junk, and
 * nothing of it is delivered.
 *
 * @since 0.1.0
 */

/** One frame for an agent on the receiving node. */
export interface Addressed {
  readonly to: string
  readonly frame: string
}

/** Frames per published message at most (a batch is cut into several beyond it). */
export const MAX_BATCH = 256

/** The message carrying `frames` (one or more). */
export const encode = (frames: ReadonlyArray<Addressed>): string => {
  if (frames.length === 1) return `${frames[0]!.to}\n${frames[0]!.frame}`
  let message = `*${frames.length}\n`
  for (const { frame, to } of frames) message += `${to}\n${frame.length}\n${frame}`
  return message
}

const DIGITS = /^[0-9]{1,9}$/

/** The frames of a message, or `undefined` when it is not a well-formed one. */
export const decode = (message: string): ReadonlyArray<Addressed> | undefined => {
  const first = message.indexOf("\n")
  if (first <= 0) return undefined
  if (message[0] !== "*") return [{ to: message.slice(0, first), frame: message.slice(first + 1) }]
  const countText = message.slice(1, first)
  if (!DIGITS.test(countText)) return undefined
  const count = Number(countText)
  if (count < 2 || count > MAX_BATCH) return undefined
  const frames: Array<Addressed> = []
  let at = first + 1
  for (let i = 0; i < count; i++) {
    const toEnd = message.indexOf("\n", at)
    if (toEnd <= at) return undefined
    const lengthEnd = message.indexOf("\n", toEnd + 1)
    const lengthText = message.slice(toEnd + 1, lengthEnd)
    if (lengthEnd < 0 || !DIGITS.test(lengthText)) return undefined
    const end = lengthEnd + 1 + Number(lengthText)
    if (end > message.length) return undefined
    frames.push({ to: message.slice(at, toEnd), frame: message.slice(lengthEnd + 1, end) })
    at = end
  }
  return at === message.length ? frames : undefined
}
