/**
 * Framed channels: messages of any size (up to the receiver's limit) over a data channel opened
 * with the protocol `ioap-frag.v1`, split and reassembled with `Framing`.
 *
 * Framing needs an ordered, reliable channel: on an unordered or partially reliable one a lost or
 * late fragment would corrupt its message, so such channels are refused (`FramingRefused`).
 *
 * @since 0.1.0
 */
import { Effect, Schema, Semaphore, Stream } from "effect"
import { utf8ByteLength } from "../../protocol/Utf8.ts"
import type { DataChannelConfig } from "../../protocol/DataChannelConfig.ts"
import { type ChannelClosed, type DataChannel, type Message, MessageTooLarge } from "../peer/DataChannel.ts"
import * as Framing from "./Framing.ts"

/** A channel that cannot carry framed messages (not `ioap-frag.v1`, unordered or partially reliable). */
export class FramingRefused extends Schema.TaggedError<FramingRefused>()("FramingRefused", {
  label: Schema.String,
  reason: Schema.String
}) {}

/** Limits of a framed channel. */
export interface FramedOptions {
  /**
   * Largest message sent or accepted (default 64 MiB); also the most bytes of messages in flight at
   * once: the receiver reserves each message's length at its first fragment and refuses one that
   * would take its reservations past this limit, so the sender keeps the messages it is sending at
   * once within it (a message that would pass it waits for earlier ones to be sent). Both sides of
   * a channel should use the same limit (the default).
   */
  readonly maxMessageBytes?: number
  /** Messages reassembled at once (default 16); a sender keeps as many at most in flight. */
  readonly maxMessagesInFlight?: number
  /** The size of one fragment, at most the connection's max-message-size. */
  readonly maxFragmentBytes: Effect.Effect<number>
}

/** A data channel carrying messages of any size. */
export interface FramedChannel {
  readonly channel: DataChannel
  /** Whole messages; fails with `FramingError` (and closes the channel) if the peer breaks the framing. */
  readonly messages: Stream.Stream<Message, Framing.FramingError>
  /**
   * Sends one message as fragments; messages sent from several fibers interleave, as long as they
   * stay within `maxMessagesInFlight` and their lengths together within `maxMessageBytes` (else the
   * later ones wait).
   */
  readonly send: (message: Message) => Effect.Effect<void, ChannelClosed | MessageTooLarge>
}

/** The configuration of a framed channel with `label`: ordered, reliable, `ioap-frag.v1`. */
export const config = (label: string): DataChannelConfig => ({ label, ordered: true, protocol: Framing.PROTOCOL })

const DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024

/** Framed messages over `channel`. */
export const make = (channel: DataChannel, options: FramedOptions): Effect.Effect<FramedChannel, FramingRefused> =>
  Effect.gen(function*() {
    const refuse = (reason: string) => new FramingRefused({ label: channel.label, reason })
    if (channel.protocol !== Framing.PROTOCOL) return yield* refuse(`the channel's protocol is not ${Framing.PROTOCOL}`)
    if (!channel.ordered) return yield* refuse("framing needs an ordered channel")
    if (channel.maxRetransmits !== null || channel.maxPacketLifeTime !== null) {
      return yield* refuse("framing needs a reliable channel (no maxRetransmits or maxPacketLifeTime)")
    }
    const maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES
    const maxMessagesInFlight = options.maxMessagesInFlight ?? 16
    const reassembler = new Framing.Reassembler({ maxMessageBytes, maxMessagesInFlight })
    let nextNumber = 0
    // The messages being sent and their bytes, bounded as the receiver bounds its reassembly.
    const slots = yield* Semaphore.make(maxMessagesInFlight)
    const inFlight = yield* Semaphore.make(maxMessageBytes)

    const messages = channel.messages.pipe(
      Stream.mapEffect((fragment) => {
        if (typeof fragment === "string") return Effect.fail(new Framing.FramingError({ reason: "a text message on a framed channel" }))
        const result = reassembler.push(fragment)
        // The fragment is copied into its message (or refused): its memory goes back now.
        Framing.release(fragment)
        return Effect.fromResult(result)
      }),
      Stream.filter((message): message is Message => message !== undefined),
      Stream.tapError(() => channel.close)
    )

    const send = (message: Message) =>
      Effect.gen(function*() {
        const size = typeof message === "string" ? utf8ByteLength(message) : message.byteLength
        if (size > maxMessageBytes) return yield* new MessageTooLarge({ label: channel.label, size, max: maxMessageBytes })
        const fragmentBytes = yield* options.maxFragmentBytes
        const fragments = Effect.gen(function*() {
          // Where the stack copies what it sends, one buffer serves every fragment of the message.
          for (const fragment of Framing.fragments(message, nextNumber++, fragmentBytes, channel.sendCopies === true)) {
            yield* channel.send(fragment)
          }
        })
        yield* Semaphore.withPermits(slots, 1)(Semaphore.withPermits(inFlight, size)(fragments))
      })

    return { channel, messages, send }
  })
