import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Stream, SubscriptionRef } from "effect"
import { INBOX_MAX_BYTES } from "../../../src/webrtc/peer/DataChannel.ts"
import { connectedPair, realTransports } from "../fixtures.ts"

const MESSAGE = 60 * 1024

/** A channel `label` opened by the offerer of a connected node-datachannel pair, and the answerer's end of it. */
const openedChannel = (label: string) =>
  Effect.gen(function*() {
    const { offerer, answerer } = yield* connectedPair(Effect.succeed(realTransports[0]![1]))
    const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === label), Stream.runHead))
    const ours = yield* offerer.peer.createDataChannel({ label })
    yield* ours.opened
    return { ours, theirs: Option.getOrThrow(yield* Fiber.join(remote)) }
  })

describe("data channel receive inbox", () => {
  it.live("a pull takes everything held, in order; an interrupted pull loses nothing; a waiting pull is woken; the stream ends after the last", () =>
    Effect.gen(function*() {
      const { ours, theirs } = yield* openedChannel("inbox")
      const received = (count: number) =>
        Effect.gen(function*() {
          while ((yield* theirs.stats).messagesReceived < count) yield* Effect.sleep("5 millis")
        }).pipe(Effect.timeout("10 seconds"))
      const pull = yield* Stream.toPull(theirs.messages)
      // A pull that waits on an empty inbox and is interrupted takes nothing with it.
      const interrupted = yield* Effect.forkChild(pull)
      yield* Effect.sleep("20 millis")
      yield* Fiber.interrupt(interrupted)
      // Three messages arrive while nobody reads: the next pull has all three, in order.
      for (const text of ["a", "b", "c"]) yield* ours.send(text)
      yield* received(3)
      assert.deepStrictEqual([...(yield* pull)], ["a", "b", "c"])
      // A pull waiting when a message arrives is woken with it.
      const waiting = yield* Effect.forkChild(pull)
      yield* Effect.sleep("20 millis")
      yield* ours.send(new Uint8Array([1, 2, 3]))
      assert.deepStrictEqual([...(yield* Fiber.join(waiting).pipe(Effect.timeout("10 seconds")))], [new Uint8Array([1, 2, 3])])
      // Held when the channel closes: delivered, then the stream ends.
      yield* ours.send("last")
      yield* received(5)
      yield* ours.close
      yield* SubscriptionRef.changes(theirs.state).pipe(Stream.filter((state) => state === "closed"), Stream.runHead, Effect.timeout("10 seconds"))
      assert.deepStrictEqual([...(yield* pull)], ["last"])
      assert.isTrue(Exit.isFailure(yield* Effect.exit(pull)))
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("a peer that sends faster than the application reads gets the channel closed (inbox_full), and what was held is delivered", () =>
    Effect.gen(function*() {
      const { ours: flood, theirs } = yield* openedChannel("flood")
      // The application never reads `theirs` while the peer sends more than the inbox holds.
      const total = INBOX_MAX_BYTES + 4 * 1024 * 1024
      let sent = 0
      const sending = yield* Effect.forkChild(Effect.gen(function*() {
        while (sent < total) {
          yield* flood.send(new Uint8Array(MESSAGE).fill(sent / MESSAGE % 256))
          sent += MESSAGE
        }
      }).pipe(Effect.ignore))
      // The receiving side closes the channel on its own, with a reason; the sender sees it close.
      yield* Effect.gen(function*() {
        while (theirs.closeReason?.() === undefined) yield* Effect.sleep("20 millis")
      }).pipe(Effect.timeout("30 seconds"))
      assert.strictEqual(theirs.closeReason?.(), "inbox_full")
      yield* SubscriptionRef.changes(flood.state).pipe(Stream.filter((state) => state === "closed"), Stream.runHead, Effect.timeout("15 seconds"))
      assert.strictEqual((yield* flood.send(new Uint8Array(1)).pipe(Effect.flip))._tag, "ChannelClosed")
      yield* Fiber.join(sending)
      // What the inbox held arrives in order, then the stream ends: within the bound, nothing invented.
      const held = yield* Stream.runCollect(theirs.messages).pipe(Effect.timeout("10 seconds"))
      assert.isAtMost(held.length * MESSAGE, INBOX_MAX_BYTES)
      assert.isAbove(held.length, 0)
      held.forEach((message, i) => assert.strictEqual((message as Uint8Array)[0], i % 256))
      const error = yield* theirs.send("late").pipe(Effect.flip)
      assert.deepStrictEqual({ tag: error._tag, reason: (error as { reason?: string }).reason }, { tag: "ChannelClosed", reason: "inbox_full" })
    }).pipe(Effect.scoped), { timeout: 90_000 })
})
