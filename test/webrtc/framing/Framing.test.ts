import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Result, Stream } from "effect"
import fc from "fast-check"
import * as FramedChannel from "../../../src/webrtc/framing/FramedChannel.ts"
import * as Framing from "../../../src/webrtc/framing/Framing.ts"
import { agentOnHub, allTransports, connectedPair, connectPair, hub, realTransports } from "../fixtures.ts"

const limits = { maxMessageBytes: 1 << 20, maxMessagesInFlight: 4 }
const reassemble = (fragments: ReadonlyArray<Uint8Array>, reassembler = new Framing.Reassembler(limits)) =>
  fragments.map((fragment) => reassembler.push(fragment))

describe("ioap-frag.v1 framing", () => {
  it("round-trips any binary or text message for any fragment size", () => {
    fc.assert(fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 5000 }), fc.string({ maxLength: 2000, unit: "grapheme" })),
      fc.integer({ min: Framing.HEADER_BYTES + 1, max: 600 }),
      fc.nat(),
      (message, size, number) => {
        const fragments = Framing.fragment(message, number, size)
        assert.isTrue(fragments.every((f) => f.byteLength <= size))
        const results = reassemble(fragments)
        assert.isTrue(results.slice(0, -1).every((r) => Result.isSuccess(r) && r.success === undefined))
        assert.deepStrictEqual(results.at(-1), Result.succeed(message))
      }
    ), { numRuns: 200 })
  })

  it("built in one reused buffer, fragments carry the same bytes when each is taken before the next", () => {
    fc.assert(fc.property(
      fc.oneof(fc.uint8Array({ maxLength: 3000 }), fc.string({ maxLength: 1000, unit: "grapheme" })),
      fc.integer({ min: Framing.HEADER_BYTES + 1, max: 400 }),
      (message, size) => {
        const reassembler = new Framing.Reassembler(limits)
        const buffers = new Set<ArrayBufferLike>()
        let last: unknown
        const copies: Array<Uint8Array> = []
        for (const fragment of Framing.fragments(message, 5, size, true)) {
          buffers.add(fragment.buffer)
          copies.push(fragment.slice())
          const result = reassembler.push(fragment)
          assert.isTrue(Result.isSuccess(result))
          if (Result.isSuccess(result)) last = result.success
        }
        assert.strictEqual(buffers.size, 1)
        assert.deepStrictEqual(copies, Framing.fragment(message, 5, size))
        assert.deepStrictEqual(last, message)
      }
    ), { numRuns: 200 })
  })

  it("reassembles interleaved messages by their numbers", () => {
    const big = Framing.fragment(new Uint8Array(1000).fill(1), 1, 100)
    const small = Framing.fragment("small", 2, 100)
    const reassembler = new Framing.Reassembler(limits)
    const out: Array<unknown> = []
    for (const fragment of [big[0]!, big[1]!, small[0]!, ...big.slice(2)]) {
      const result = reassembler.push(fragment)
      if (Result.isSuccess(result) && result.success !== undefined) out.push(result.success)
    }
    assert.deepStrictEqual(out, ["small", new Uint8Array(1000).fill(1)])
    assert.strictEqual(reassembler.inFlight, 0)
  })

  const refused = (fragments: ReadonlyArray<Uint8Array>, reason: string) => {
    const results = reassemble(fragments)
    const failure = results.find(Result.isFailure)
    assert.isDefined(failure)
    if (failure !== undefined && Result.isFailure(failure)) assert.include(failure.failure.reason, reason)
  }

  it("refuses a message announced over the limit before buffering it (a peer cannot announce 4 GiB)", () => {
    const header = new Uint8Array(Framing.HEADER_BYTES)
    header[0] = 0b010
    new DataView(header.buffer).setUint32(8, 0xffffffff)
    refused([header], "over the limit")
  })

  it("refuses broken framing: out of order, never started, started twice, wrong length, bad flags, bad UTF-8", () => {
    const fragments = Framing.fragment(new Uint8Array(300), 7, 100)
    refused([fragments[0]!, fragments[2]!], "out of order")
    refused([fragments[1]!], "never started")
    refused([fragments[0]!, fragments[0]!], "started twice")
    const short = Framing.fragment(new Uint8Array(300), 8, 100)
    new DataView(short[0]!.buffer).setUint32(8, 500)
    refused(short, "shorter than announced")
    const flagged = Framing.fragment("x", 9, 100)
    flagged[0]![0] = 0b1000_0110
    refused(flagged, "flags")
    const notUtf8 = Framing.fragment(new Uint8Array([0xff, 0xfe]), 10, 100)
    notUtf8[0]![0] = 0b111
    refused(notUtf8, "not UTF-8")
    refused([new Uint8Array(3)], "shorter than its header")
  })

  it("bounds the messages reassembled at once", () => {
    const starts = [1, 2, 3, 4, 5].map((n) => Framing.fragment(new Uint8Array(300), n, 100)[0]!)
    refused(starts, "too many messages in flight")
  })

  /** A first fragment announcing `length` bytes and carrying none of them (what a hostile peer sends). */
  const announcement = (number: number, length: number) => {
    const header = new Uint8Array(Framing.HEADER_BYTES)
    header[0] = 0b010
    const view = new DataView(header.buffer)
    view.setUint32(4, number)
    view.setUint32(8, length)
    return header
  }

  it("bounds the bytes reserved at once: announcements together cannot reserve more than the limit", () => {
    // Each announcement is within the limit and the count within maxMessagesInFlight: without a
    // bound on their sum, 4 of 12 bytes each would reserve 4 MiB.
    const reassembler = new Framing.Reassembler(limits)
    assert.isTrue(Result.isSuccess(reassembler.push(announcement(1, limits.maxMessageBytes))))
    assert.strictEqual(reassembler.reservedBytes, limits.maxMessageBytes)
    const second = reassembler.push(announcement(2, 1))
    assert.isTrue(Result.isFailure(second))
    if (Result.isFailure(second)) assert.include(second.failure.reason, "past")
    assert.strictEqual(reassembler.reservedBytes, limits.maxMessageBytes)
    assert.strictEqual(reassembler.inFlight, 1)
  })

  it("frees a message's reservation once it is whole: messages that do not overlap may add up past the limit", () => {
    const reassembler = new Framing.Reassembler(limits)
    const first = Framing.fragment(new Uint8Array(700 * 1024).fill(1), 1, 64 * 1024)
    const second = Framing.fragment(new Uint8Array(700 * 1024).fill(2), 2, 64 * 1024)
    assert.isTrue(Result.isSuccess(reassembler.push(first[0]!)))
    assert.strictEqual(reassembler.reservedBytes, 700 * 1024)
    // While the first is in reassembly, the second does not fit beside it.
    const overlapping = new Framing.Reassembler(limits)
    overlapping.push(first[0]!)
    assert.isTrue(Result.isFailure(overlapping.push(second[0]!)))
    const results = [...first.slice(1), ...second].map((f) => reassembler.push(f))
    assert.isTrue(results.every(Result.isSuccess))
    assert.deepStrictEqual(results.flatMap((r) => (Result.isSuccess(r) && r.success !== undefined ? [r.success] : [])), [
      new Uint8Array(700 * 1024).fill(1),
      new Uint8Array(700 * 1024).fill(2)
    ])
    assert.strictEqual(reassembler.reservedBytes, 0)
    assert.strictEqual(reassembler.inFlight, 0)
  })

  it("releases a fragment that is the whole of its buffer once copied, and leaves views into larger buffers alone", () => {
    const message = new Uint8Array(1000).map((_, i) => i % 251)
    // As a W3C channel delivers them: each fragment a buffer of its own.
    const delivered = Framing.fragment(message, 3, 300).map((f) => new Uint8Array(f.slice().buffer))
    const reassembler = new Framing.Reassembler(limits)
    let whole: unknown
    for (const fragment of delivered) {
      const result = reassembler.push(fragment)
      Framing.release(fragment)
      assert.isTrue(fragment.buffer.detached)
      assert.strictEqual(fragment.byteLength, 0)
      if (Result.isSuccess(result) && result.success !== undefined) whole = result.success
    }
    assert.deepStrictEqual(whole, message)
    // A view into a larger (pooled) buffer: the rest of that buffer may belong to someone else.
    const pool = new Uint8Array(4096).fill(7)
    const view = pool.subarray(100, 400)
    Framing.release(view)
    assert.isFalse(pool.buffer.detached)
    assert.strictEqual(view.byteLength, 300)
    // Twice is harmless.
    const alone = new Uint8Array(16)
    Framing.release(alone)
    Framing.release(alone)
    assert.isTrue(alone.buffer.detached)
  })

  it("gives a broken message's reservation back", () => {
    const reassembler = new Framing.Reassembler(limits)
    const fragments = Framing.fragment(new Uint8Array(300), 7, 100)
    reassembler.push(fragments[0]!)
    assert.strictEqual(reassembler.reservedBytes, 300)
    assert.isTrue(Result.isFailure(reassembler.push(fragments[2]!)))
    assert.strictEqual(reassembler.reservedBytes, 0)
    assert.strictEqual(reassembler.inFlight, 0)
  })
})

const SIXTEEN_MIB = 16 * 1024 * 1024

describe.each(allTransports)("framed channels on %s", (_name, makeTransport) => {
  it.live("carry 16 MiB binary and text messages interleaved with small ones, intact", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* connectedPair(makeTransport)
      const theirs = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "bulk"), Stream.runHead))
      const mine = yield* offerer.peer.createDataChannel(FramedChannel.config("bulk"))
      yield* mine.opened
      const sender = yield* FramedChannel.make(mine, { maxFragmentBytes: offerer.peer.maxMessageSize })
      const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(theirs)), { maxFragmentBytes: answerer.peer.maxMessageSize })
      const binary = new Uint8Array(SIXTEEN_MIB)
      for (let i = 0; i < binary.length; i += 4096) binary[i] = (i / 4096) % 251
      const text = "é".repeat(SIXTEEN_MIB / 4) // 8 MiB of UTF-8, two bytes a character
      const small = Array.from({ length: 20 }, (_, i) => `small ${i}`)
      const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.take(22), Stream.runCollect))
      yield* Effect.all([
        sender.send(binary),
        sender.send(text),
        Effect.forEach(small, (m) => Effect.andThen(sender.send(m), Effect.yieldNow), { discard: true })
      ], { concurrency: "unbounded" })
      const received = [...(yield* Fiber.join(arriving))]
      const big = received.find((m) => typeof m !== "string") as Uint8Array
      assert.strictEqual(big.byteLength, SIXTEEN_MIB)
      assert.isTrue(big.every((byte, i) => byte === binary[i]))
      assert.isTrue(received.includes(text))
      assert.deepStrictEqual(received.filter((m) => typeof m === "string" && m.startsWith("small")), small)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("carry random bytes across fragment boundaries intact (node-datachannel copies what it sends: one buffer for all fragments)", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* connectedPair(makeTransport)
      const theirs = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "random"), Stream.runHead))
      const mine = yield* offerer.peer.createDataChannel(FramedChannel.config("random"))
      yield* mine.opened
      assert.strictEqual(mine.sendCopies, _name === "node-datachannel")
      const fragmentBytes = yield* offerer.peer.maxMessageSize
      const sender = yield* FramedChannel.make(mine, { maxFragmentBytes: offerer.peer.maxMessageSize })
      const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(theirs)), { maxFragmentBytes: answerer.peer.maxMessageSize })
      const body = fragmentBytes - Framing.HEADER_BYTES
      const sizes = [body - 1, body, body + 1, 5 * body + 7]
      const messages = sizes.map((size) => {
        const bytes = new Uint8Array(size)
        for (let offset = 0; offset < size; offset += 65_536) globalThis.crypto.getRandomValues(bytes.subarray(offset, Math.min(size, offset + 65_536)))
        return bytes
      })
      const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.take(messages.length), Stream.runCollect))
      yield* Effect.forEach(messages, sender.send, { discard: true })
      assert.deepStrictEqual([...(yield* Fiber.join(arriving))], messages)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("are refused on unordered or partially reliable channels", () =>
    Effect.gen(function*() {
      const { offerer } = yield* connectedPair(makeTransport)
      const unordered = yield* offerer.peer.createDataChannel({ label: "u", ordered: false, protocol: Framing.PROTOCOL })
      const lossy = yield* offerer.peer.createDataChannel({ label: "l", maxRetransmits: 0, protocol: Framing.PROTOCOL })
      const plain = yield* offerer.peer.createDataChannel({ label: "p" })
      for (const channel of [unordered, lossy, plain]) {
        const error = yield* Effect.flip(FramedChannel.make(channel, { maxFragmentBytes: offerer.peer.maxMessageSize }))
        assert.strictEqual(error._tag, "FramingRefused")
      }
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

// werift takes ~10 ms a message: the thousands of small fragments this needs would take a minute.
// The rule is the framing's, not the stack's.
describe.each(allTransports.filter(([name]) => name !== "werift"))("framed sends on %s", (_name, makeTransport) => {
  it.live("keep the messages sent at once within the limit: two that together pass it arrive intact, one after the other", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* connectedPair(makeTransport)
      const theirs = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "budget"), Stream.runHead))
      const mine = yield* offerer.peer.createDataChannel(FramedChannel.config("budget"))
      yield* mine.opened
      // 600 KiB each in 2,400 fragments of 256 bytes: the first sender's fiber yields to the other
      // (its operation budget) in the middle of its fragments, and the second would start then,
      // beside it; the receiver reserves at most 1 MiB.
      const options = { maxMessageBytes: 1024 * 1024, maxFragmentBytes: Effect.succeed(256) }
      const sender = yield* FramedChannel.make(mine, options)
      const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(theirs)), options)
      const messages = [1, 2].map((fill) => new Uint8Array(600 * 1024).fill(fill))
      const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.take(2), Stream.runCollect))
      yield* Effect.forEach(messages, sender.send, { concurrency: "unbounded", discard: true })
      const received = [...(yield* Fiber.join(arriving))] as Array<Uint8Array>
      assert.deepStrictEqual(received.map((m) => m[0]).sort(), [1, 2])
      assert.deepStrictEqual(received.map((m) => m.byteLength), [600 * 1024, 600 * 1024])
      assert.isTrue(received.every((m) => m.every((byte) => byte === m[0])))
    }).pipe(Effect.scoped), { timeout: 60_000 })


  it.live("keep the messages sent at once within the receiver's count: five sent together arrive intact", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* connectedPair(makeTransport)
      const theirs = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "count"), Stream.runHead))
      const mine = yield* offerer.peer.createDataChannel(FramedChannel.config("count"))
      yield* mine.opened
      // As above, each sender's fiber yields in the middle of its 2,400 fragments; the receiver
      // reassembles 2 messages at once.
      const options = { maxMessagesInFlight: 2, maxFragmentBytes: Effect.succeed(256) }
      const sender = yield* FramedChannel.make(mine, options)
      const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(theirs)), options)
      const messages = [1, 2, 3, 4, 5].map((fill) => new Uint8Array(600 * 1024).fill(fill))
      const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.take(5), Stream.runCollect))
      yield* Effect.forEach(messages, sender.send, { concurrency: "unbounded", discard: true })
      const received = [...(yield* Fiber.join(arriving))] as Array<Uint8Array>
      assert.deepStrictEqual(received.map((m) => m[0]).sort(), [1, 2, 3, 4, 5])
      assert.isTrue(received.every((m) => m.byteLength === 600 * 1024 && m.every((byte) => byte === m[0])))
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("framed channels across stacks", () => {
  it.live("node-datachannel → werift: fragments fit the smaller of the two max-message-sizes (64 KiB)", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      const ndc = yield* agentOnHub(signalingHub, realTransports[0]![1])
      const werift = yield* agentOnHub(signalingHub, realTransports[1]![1])
      const { answerer, offerer } = yield* connectPair(ndc, werift)
      assert.strictEqual(yield* offerer.peer.maxMessageSize, 65_536)
      const theirs = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "x"), Stream.runHead))
      const mine = yield* offerer.peer.createDataChannel(FramedChannel.config("x"))
      yield* mine.opened
      const sender = yield* FramedChannel.make(mine, { maxFragmentBytes: offerer.peer.maxMessageSize })
      const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(theirs)), { maxFragmentBytes: answerer.peer.maxMessageSize })
      const payload = new Uint8Array(1024 * 1024).map((_, i) => i % 256)
      const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.runHead))
      yield* sender.send(payload)
      assert.deepStrictEqual(Option.getOrThrow(yield* Fiber.join(arriving)), payload)
      // A plain (unframed) message over the limit is refused with a typed error, not sent.
      const tooBig = yield* Effect.flip(offerer.control.send(new Uint8Array(70_000)))
      assert.strictEqual(tooBig._tag, "MessageTooLarge")
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
