/**
 * The `ioap-frag.v1` framing: messages of any size over a data channel whose stack carries at most
 * `max-message-size` bytes per message (PROTOCOL.md 5.3; the format is in docs/PROTOCOL.md).
 *
 * Every fragment is a binary message: a 12-byte header, then up to (max-message-size − 12) bytes.
 *
 *     byte 0      flags: bit 0 text (UTF-8) / binary, bit 1 first fragment, bit 2 last fragment
 *     bytes 1–3   zero
 *     bytes 4–7   message number (uint32, big-endian; chosen by the sender, unique while in flight)
 *     bytes 8–11  first fragment: the message's total length in bytes; others: the fragment index
 *
 * Fragments of one message arrive in order (framed channels are ordered and reliable; framing is
 * refused on others), while fragments of different messages may interleave. The receiver writes each
 * message's fragments into one buffer of the announced length, allocated at its first fragment; it
 * refuses a message announced over its limit, a message whose announced length would take the
 * lengths of the messages it reassembles at once past the same limit (16 announcements cannot
 * reserve 16 times the limit), and more than a few messages at once.
 *
 * @since 0.1.0
 */
import { Result, Schema } from "effect"

/** The channel protocol name of framed channels. */
export const PROTOCOL = "ioap-frag.v1"

/** Bytes of the fragment header. */
export const HEADER_BYTES = 12

const TEXT = 0b001
const FIRST = 0b010
const LAST = 0b100

/** A framed message violated the framing or the receiver's limits. */
export class FramingError extends Schema.TaggedError<FramingError>()("FramingError", {
  reason: Schema.String
}) {}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder("utf-8", { fatal: true })

/**
 * The fragments of one message, each at most `maxFragmentBytes` long (header included), made one at
 * a time as they are taken: a sender holds one fragment more than the message, not a second copy.
 * With `reuse`, every fragment is written into the same buffer (each one is overwritten when the
 * next is taken): for stacks that copy a message when it is sent, so no fragment is allocated.
 */
export const fragments = function*(
  message: string | Uint8Array,
  messageNumber: number,
  maxFragmentBytes: number,
  reuse = false
): Generator<Uint8Array> {
  const text = typeof message === "string"
  const bytes = text ? utf8.encode(message) : message
  const chunk = maxFragmentBytes - HEADER_BYTES
  if (chunk <= 0) throw new RangeError("max fragment size below the header size")
  const count = Math.max(1, Math.ceil(bytes.byteLength / chunk))
  const shared = reuse ? new Uint8Array(HEADER_BYTES + Math.min(chunk, bytes.byteLength)) : undefined
  for (let index = 0; index < count; index++) {
    const body = bytes.subarray(index * chunk, Math.min(bytes.byteLength, (index + 1) * chunk))
    const out = shared === undefined ? new Uint8Array(HEADER_BYTES + body.byteLength) : shared.subarray(0, HEADER_BYTES + body.byteLength)
    const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
    out[0] = (text ? TEXT : 0) | (index === 0 ? FIRST : 0) | (index === count - 1 ? LAST : 0)
    view.setUint32(4, messageNumber >>> 0)
    view.setUint32(8, index === 0 ? bytes.byteLength : index)
    out.set(body, HEADER_BYTES)
    yield out
  }
}

/**
 * Gives a fragment's memory back at once, once its bytes are copied into their message: a fragment
 * that is the whole of its `ArrayBuffer` (as a W3C channel delivers each binary message, a new
 * buffer) is detached (`ArrayBuffer.prototype.transfer(0)`), so its bytes are freed now rather than
 * at the next major collection. V8 counts the external bytes allocated since its last major
 * collection against the old generation's limit: a 16 MiB message's fragments left to the
 * collector, beside its 16 MiB reassembly buffer, started one more major collection inside each
 * transfer (measured in the webrtc bench: 2–3 a 16 MiB message, 1 with fragments released). A view
 * into a larger buffer (a pooled one) is left alone. Only for fragments nothing else holds.
 */
export const release = (fragment: Uint8Array): void => {
  const buffer = fragment.buffer
  if (!(buffer instanceof ArrayBuffer) || buffer.resizable || buffer.detached) return
  if (fragment.byteOffset !== 0 || fragment.byteLength !== buffer.byteLength) return
  try {
    buffer.transfer(0)
  } catch {
    // A buffer that cannot be detached (engine or embedder rules) is freed when collected.
  }
}

/** All the fragments of one message at once (see `fragments`). */
export const fragment = (message: string | Uint8Array, messageNumber: number, maxFragmentBytes: number): Array<Uint8Array> =>
  Array.from(fragments(message, messageNumber, maxFragmentBytes))

/** Limits of a receiver. */
export interface ReassemblyLimits {
  /**
   * The largest message accepted, in bytes; also the most bytes reserved at once for the messages
   * being reassembled (the sum of their announced lengths).
   */
  readonly maxMessageBytes: number
  /** Messages reassembled at once. */
  readonly maxMessagesInFlight: number
}

interface Incomplete {
  readonly text: boolean
  readonly buffer: Uint8Array
  filled: number
  next: number
}

/** Reassembles fragments into messages; one per channel. */
export class Reassembler {
  readonly #limits: ReassemblyLimits
  readonly #partials = new Map<number, Incomplete>()
  #reserved = 0

  constructor(limits: ReassemblyLimits) {
    this.#limits = limits
  }

  /** Takes one fragment: a whole message when it was the last, `undefined` while incomplete. */
  push(fragmentBytes: Uint8Array): Result.Result<string | Uint8Array | undefined, FramingError> {
    const fail = (reason: string) => Result.fail(new FramingError({ reason }))
    if (fragmentBytes.byteLength < HEADER_BYTES) return fail("a fragment shorter than its header")
    const view = new DataView(fragmentBytes.buffer, fragmentBytes.byteOffset, fragmentBytes.byteLength)
    const flags = fragmentBytes[0]!
    if ((flags & ~0b111) !== 0 || fragmentBytes[1] !== 0 || fragmentBytes[2] !== 0 || fragmentBytes[3] !== 0) {
      return fail("unknown flags or non-zero reserved bytes")
    }
    const number = view.getUint32(4)
    const field = view.getUint32(8)
    const body = fragmentBytes.subarray(HEADER_BYTES)
    let partial = this.#partials.get(number)
    if ((flags & FIRST) !== 0) {
      if (partial !== undefined) return this.#drop(number, partial, `message ${number} started twice`)
      if (field > this.#limits.maxMessageBytes) {
        return fail(`a message of ${field} bytes is over the limit of ${this.#limits.maxMessageBytes}`)
      }
      if (this.#partials.size >= this.#limits.maxMessagesInFlight) return fail("too many messages in flight")
      if (this.#reserved + field > this.#limits.maxMessageBytes) {
        return fail(`a message of ${field} bytes would take the messages in reassembly past ${this.#limits.maxMessageBytes} bytes (${this.#reserved} reserved)`)
      }
      partial = { text: (flags & TEXT) !== 0, buffer: new Uint8Array(field), filled: 0, next: 1 }
      this.#partials.set(number, partial)
      this.#reserved += field
    } else {
      if (partial === undefined) return fail(`a fragment of message ${number}, which never started`)
      if (field !== partial.next) return this.#drop(number, partial, `fragment ${field} of message ${number} out of order`)
      partial.next++
    }
    if (partial.filled + body.byteLength > partial.buffer.byteLength) return this.#drop(number, partial, `message ${number} is longer than announced`)
    partial.buffer.set(body, partial.filled)
    partial.filled += body.byteLength
    if ((flags & LAST) === 0) return Result.succeed(undefined)
    this.#partials.delete(number)
    this.#reserved -= partial.buffer.byteLength
    if (partial.filled !== partial.buffer.byteLength) return fail(`message ${number} is shorter than announced`)
    if (!partial.text) return Result.succeed(partial.buffer)
    try {
      return Result.succeed(utf8Decoder.decode(partial.buffer))
    } catch {
      return fail(`message ${number} is marked text but is not UTF-8`)
    }
  }

  /** Forgets a message that broke the framing (its channel is closed by the caller). */
  #drop(number: number, partial: Incomplete, reason: string): Result.Result<never, FramingError> {
    this.#partials.delete(number)
    this.#reserved -= partial.buffer.byteLength
    return Result.fail(new FramingError({ reason }))
  }

  /** Messages still being reassembled. */
  get inFlight(): number {
    return this.#partials.size
  }

  /** Bytes reserved for the messages being reassembled (the sum of their announced lengths). */
  get reservedBytes(): number {
    return this.#reserved
  }
}
