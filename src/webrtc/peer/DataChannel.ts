/**
 * A data channel as Effect values: received messages are a Stream, sending is an Effect that
 * waits (backpressure) while too many bytes are queued in the stack.
 *
 * Written against the W3C `RTCDataChannel` interface only.
 *
 * @since 0.1.0
 */
import { Cause, Deferred, Effect, Schema, type Scope, Stream, SubscriptionRef } from "effect"
import type { NonEmptyReadonlyArray } from "effect/Array"
import { utf8ByteLength } from "../../protocol/Utf8.ts"
import * as PeerMetrics from "./PeerMetrics.ts"

/** A message: text, or binary as bytes. */
export type Message = string | Uint8Array

/** Why this side closed a channel on its own: its receive inbox overflowed (the application did not read). */
export const CloseReason = Schema.Literal("inbox_full")
export type CloseReason = typeof CloseReason.Type

/** The channel is closed (or closing): nothing more can be sent on it. `reason` says why, when this side closed it. */
export class ChannelClosed extends Schema.TaggedError<ChannelClosed>()("ChannelClosed", {
  label: Schema.String,
  reason: Schema.optionalKey(CloseReason)
}) {}

/** A message larger than the channel can carry in one piece. */
export class MessageTooLarge extends Schema.TaggedError<MessageTooLarge>()("MessageTooLarge", {
  label: Schema.String,
  size: Schema.Number,
  max: Schema.Number
}) {}

/** Bytes and messages through one channel. */
export interface ChannelStats {
  readonly label: string
  readonly bytesSent: number
  readonly bytesReceived: number
  readonly messagesSent: number
  readonly messagesReceived: number
}

/** A data channel of a peer connection. */
export interface DataChannel {
  readonly label: string
  /** The SCTP stream id (assigned once the transport is up for non-negotiated channels). */
  readonly id: () => number | null
  readonly protocol: string
  readonly ordered: boolean
  readonly maxRetransmits: number | null
  readonly maxPacketLifeTime: number | null
  readonly negotiated: boolean
  readonly state: SubscriptionRef.SubscriptionRef<RTCDataChannelState>
  /** Bytes the stack holds, sent but not yet acknowledged (what `send` waits on). */
  readonly bufferedAmount: () => number
  /** Completes when the channel is open; fails if it closes first. */
  readonly opened: Effect.Effect<void, ChannelClosed>
  /**
   * Messages as they arrive; ends when the channel closes. One consumer. At most
   * `INBOX_MAX_BYTES` (or the `wrap` option) wait unread: a message beyond that closes the
   * channel (`closeReason` "inbox_full"); those already held are still delivered, then it ends.
   */
  readonly messages: Stream.Stream<Message>
  /**
   * Why this side closed the channel (`undefined` while open, or when it was closed otherwise).
   * Channels that stand for another (a link's control channel across rebuilds) may not say.
   */
  readonly closeReason?: () => CloseReason | undefined
  /**
   * Whether the stack has copied a message's bytes once `send` completed, so the caller may reuse
   * them (framed channels then build their fragments in one buffer). Absent: it may not have.
   */
  readonly sendCopies?: boolean
  /** Sends one message, waiting while the stack's send buffer is above its high-water mark. */
  readonly send: (message: Message) => Effect.Effect<void, ChannelClosed | MessageTooLarge>
  readonly close: Effect.Effect<void>
  readonly stats: Effect.Effect<ChannelStats>
}

/** Bytes of received messages a channel holds unread before it closes with "inbox_full". */
export const INBOX_MAX_BYTES = 64 * 1024 * 1024

/** Send buffer levels: `send` waits above the high mark until the stack drains to the low mark. */
export const BUFFER_HIGH_WATER = 1024 * 1024
export const BUFFER_LOW_WATER = 256 * 1024

const toMessage = (data: unknown): Message => {
  if (typeof data === "string") return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  return String(data)
}

const byteLength = (message: Message): number =>
  typeof message === "string" ? utf8ByteLength(message) : message.byteLength

/**
 * Holds the messages of a channel from the moment the stack announces it until `wrap` takes it
 * over: the stack delivers messages at once, and a message without a listener is lost.
 */
export interface EarlyMessages {
  readonly messages: Array<unknown>
  readonly stop: () => void
}

/** Starts holding a channel's messages, synchronously (call it in the `datachannel` event). */
export const holdEarly = (channel: RTCDataChannel): EarlyMessages => {
  const messages: Array<unknown> = []
  const listener = (event: Event) => void messages.push((event as MessageEvent).data)
  channel.addEventListener("message", listener)
  return { messages, stop: () => channel.removeEventListener("message", listener) }
}

/** Wraps a stack's channel; it is closed when the scope closes. `maxMessageSize` is read per send. */
export const wrap = (
  channel: RTCDataChannel,
  maxMessageSize: () => number,
  early?: EarlyMessages,
  options: {
    readonly maxInboxBytes?: number
    /** The stack copies the bytes of a message when `send` is called (see `DataChannel.sendCopies`). */
    readonly sendCopies?: boolean
  } = {}
): Effect.Effect<DataChannel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const label = channel.label
    const state = yield* SubscriptionRef.make<RTCDataChannelState>(channel.readyState)
    // The inbox, bounded by bytes: messages received and not yet taken by the reader. The reader
    // takes all of them in one pull (no step or tuple per message), and
    // waits for more with one callback that a message resumes in a microtask: the stack calls back
    // outside any fiber, and the reader then runs right after that callback, not in a later
    // macrotask (through an effect Queue and its scheduler, this cost a few µs per message).
    let inbox: Array<Message> = []
    let inboxEnded = false
    // The reader waiting for a message (one consumer), and any others waiting at the same time.
    type Resume = (effect: Effect.Effect<void>) => void
    let reader: Resume | undefined = undefined
    const moreReaders: Array<Resume> = []
    let wakeScheduled = false
    const wakeReaders = () => {
      wakeScheduled = false
      const first = reader
      reader = undefined
      // Only those waiting now: a woken reader that finds the inbox empty again waits anew.
      let waiting = moreReaders.length
      first?.(Effect.void)
      for (; waiting > 0 && moreReaders.length > 0; waiting--) moreReaders.shift()!(Effect.void)
    }
    const messageArrived = () => {
      if ((reader !== undefined || moreReaders.length > 0) && !wakeScheduled) {
        wakeScheduled = true
        queueMicrotask(wakeReaders)
      }
    }
    const endInbox = () => {
      inboxEnded = true
      messageArrived()
    }
    const maxInboxBytes = options.maxInboxBytes ?? INBOX_MAX_BYTES
    let inboxBytes = 0
    let closeReason: CloseReason | undefined = undefined
    const opened = yield* Deferred.make<void, ChannelClosed>()
    let drained = yield* Deferred.make<void>()
    let bytesSent = 0
    let bytesReceived = 0
    let messagesSent = 0
    let messagesReceived = 0
    // The stack calls back outside any fiber: metrics are updated with this context.
    const context = yield* Effect.context<never>()
    const traffic = PeerMetrics.traffic(context)

    const setState = (next: RTCDataChannelState) => Effect.runSync(SubscriptionRef.set(state, next))
    try {
      channel.binaryType = "arraybuffer"
    } catch {
      // Some stacks deliver bytes whatever binaryType says; `toMessage` copes with both.
    }
    channel.bufferedAmountLowThreshold = BUFFER_LOW_WATER
    channel.addEventListener("open", () => {
      setState("open")
      Deferred.doneUnsafe(opened, Effect.void)
    })
    channel.addEventListener("close", () => {
      setState("closed")
      Deferred.doneUnsafe(opened, Effect.fail(closedError()))
      Deferred.doneUnsafe(drained, Effect.void)
      endInbox()
    })
    const receive = (data: unknown) => {
      const message = toMessage(data)
      const size = byteLength(message)
      bytesReceived += size
      messagesReceived++
      traffic.messagesReceived++
      traffic.bytesReceived += size
      if (closeReason !== undefined) return
      if (inboxBytes + size > maxInboxBytes) {
        // The application does not keep up: the channel closes (typed), not a silent drop.
        closeReason = "inbox_full"
        PeerMetrics.overloads("channel_inbox").updateUnsafe(1, context)
        endInbox()
        channel.close()
        return
      }
      inboxBytes += size
      inbox.push(message)
      messageArrived()
    }
    // Synchronously: stop holding, listen, then hand over what was held (nothing lost or doubled).
    early?.stop()
    channel.addEventListener("message", (event) => receive((event as MessageEvent).data))
    for (const data of early?.messages.splice(0) ?? []) receive(data)
    channel.addEventListener("bufferedamountlow", () => Deferred.doneUnsafe(drained, Effect.void))
    if (channel.readyState === "open") Deferred.doneUnsafe(opened, Effect.void)
    if (channel.readyState === "closed") {
      Deferred.doneUnsafe(opened, Effect.fail(closedError()))
      endInbox()
    }

    // A waiting reader interrupted is forgotten (it holds the slot until woken or interrupted).
    const forgetReader = Effect.sync(() => {
      reader = undefined
    })
    /** Waits until a message arrived or the inbox ended (at once if either is so). */
    const awaitInbox = Effect.callback<void>((resume) => {
      if (inbox.length > 0 || inboxEnded) return resume(Effect.void)
      if (reader === undefined) {
        reader = resume
        return forgetReader
      }
      moreReaders.push(resume)
      return Effect.sync(() => {
        const i = moreReaders.indexOf(resume)
        if (i >= 0) moreReaders.splice(i, 1)
      })
    })
    const inboxDone = Cause.done()
    /** One pull of `messages`: everything the inbox holds (its bytes are then free), waiting for one if it is empty. */
    const takeInbox: Effect.Effect<NonEmptyReadonlyArray<Message>, Cause.Done> = Effect.suspend(() => {
      if (inbox.length === 1) {
        // The usual case: one message, in an array of its own (the inbox keeps its storage).
        inboxBytes = 0
        return Effect.succeed([inbox.pop()!] as const)
      }
      if (inbox.length > 0) {
        const taken = inbox as unknown as NonEmptyReadonlyArray<Message>
        inbox = []
        inboxBytes = 0
        return Effect.succeed(taken)
      }
      return inboxEnded ? inboxDone : awaitThenTake
    })
    const awaitThenTake = Effect.andThen(awaitInbox, takeInbox)

    function closedError(): ChannelClosed {
      return new ChannelClosed(closeReason === undefined ? { label } : { label, reason: closeReason })
    }
    const isClosed = () => channel.readyState === "closed" || channel.readyState === "closing"
    // Never less than the stack's `bufferedAmount`: its last reading plus the bytes sent since (only
    // our sends add to it, each by its size, as W3C counts). While it is at most the high-water mark
    // a send has room without asking the stack: a native call per message in node-datachannel.
    let bufferedAtMost = Number.POSITIVE_INFINITY
    const hasRoom = () =>
      bufferedAtMost <= BUFFER_HIGH_WATER || (bufferedAtMost = channel.bufferedAmount) <= BUFFER_HIGH_WATER
    /** Hands one message to the stack (its size already checked, the channel open) and counts it. */
    const transmit = (message: Message, size: number): Effect.Effect<void, ChannelClosed> => {
      try {
        channel.send(message as string & Uint8Array<ArrayBuffer>)
      } catch {
        return Effect.fail(closedError())
      }
      bufferedAtMost += size
      bytesSent += size
      messagesSent++
      traffic.messagesSent++
      traffic.bytesSent += size
      return Effect.void
    }
    /** Waits until the channel is open and the stack's buffer is at most the high-water mark (or the channel closed). */
    const room = Effect.gen(function*() {
      if (channel.readyState !== "open") yield* Deferred.await(opened)
      while (!hasRoom() && !isClosed()) {
        if (yield* Deferred.isDone(drained)) drained = yield* Deferred.make<void>()
        yield* Deferred.await(drained)
      }
    })
    // An open channel with room sends at once, without a fiber step per check: this is every
    // message's path (a few µs each counted in the RTT benchmark).
    const send = (message: Message): Effect.Effect<void, ChannelClosed | MessageTooLarge> =>
      Effect.suspend((): Effect.Effect<void, ChannelClosed | MessageTooLarge> => {
        const size = byteLength(message)
        const max = maxMessageSize()
        if (size > max) return Effect.fail(new MessageTooLarge({ label, size, max }))
        if (channel.readyState === "open" && hasRoom()) return transmit(message, size)
        return Effect.andThen(room, Effect.suspend(() => isClosed() ? Effect.fail(closedError()) : transmit(message, size)))
      })

    yield* Effect.addFinalizer(() => Effect.sync(() => channel.close()))

    return {
      label,
      id: () => channel.id,
      bufferedAmount: () => channel.bufferedAmount,
      protocol: channel.protocol,
      ordered: channel.ordered,
      maxRetransmits: channel.maxRetransmits,
      maxPacketLifeTime: channel.maxPacketLifeTime,
      negotiated: channel.negotiated,
      state,
      opened: Deferred.await(opened),
      messages: Stream.fromPull(Effect.succeed(takeInbox)),
      closeReason: () => closeReason,
      sendCopies: options.sendCopies === true,
      send,
      close: Effect.sync(() => channel.close()),
      stats: Effect.sync(() => ({ label, bytesSent, bytesReceived, messagesSent, messagesReceived }))
    } satisfies DataChannel
  })
