/**
 * Data channel modes on every stack: reliability options, several labelled channels, negotiated
 * channels with fixed ids.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import { agentOnHub, allTransports, connectedPair, hub } from "../fixtures.ts"

describe.each(allTransports)("data channel modes on %s", (_name, makeTransport) => {
  const pair = connectedPair(makeTransport)

  it.live("unordered, maxRetransmits and maxPacketLifeTime channels deliver, and say what they are", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* pair
      const configs = [
        { label: "unordered", ordered: false },
        { label: "retransmits", ordered: false, maxRetransmits: 2 },
        { label: "lifetime", ordered: true, maxPacketLifeTime: 500 }
      ] as const
      const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.take(configs.length), Stream.runCollect))
      const mine = yield* Effect.forEach(configs, (config) => offerer.peer.createDataChannel(config))
      yield* Effect.forEach(mine, (channel) => channel.opened)
      const theirs = [...(yield* Fiber.join(remote))]
      for (const config of configs) {
        const local = mine.find((c) => c.label === config.label)!
        const other = theirs.find((c) => c.label === config.label)!
        assert.strictEqual(local.ordered, config.ordered)
        assert.strictEqual(local.maxRetransmits, "maxRetransmits" in config ? config.maxRetransmits : null)
        assert.strictEqual(local.maxPacketLifeTime, "maxPacketLifeTime" in config ? config.maxPacketLifeTime : null)
        // The remote side's W3C properties are not asserted: node-datachannel's and werift's
        // channels opened by the peer report the defaults (the modes still apply, per DCEP).
        assert.strictEqual(other.label, config.label)
        // On loopback nothing is lost: every message arrives (order is not promised when unordered).
        const arriving = yield* Effect.forkChild(other.messages.pipe(Stream.take(20), Stream.runCollect))
        for (let i = 0; i < 20; i++) yield* local.send(`${config.label} ${i}`)
        const received = [...(yield* Fiber.join(arriving))].sort()
        assert.deepStrictEqual(received, Array.from({ length: 20 }, (_, i) => `${config.label} ${i}`).sort())
      }
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("several labelled channels keep their messages apart", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* pair
      const labels = ["a", "b", "c", "d"]
      const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.take(labels.length), Stream.runCollect))
      const mine = yield* Effect.forEach(labels, (label) => offerer.peer.createDataChannel({ label }))
      yield* Effect.forEach(mine, (channel) => channel.opened)
      const theirs = [...(yield* Fiber.join(remote))]
      const arriving = yield* Effect.forEach(labels, (label) =>
        Effect.forkChild(theirs.find((c) => c.label === label)!.messages.pipe(Stream.take(5), Stream.runCollect)))
      yield* Effect.forEach(mine, (channel) => Effect.forEach([0, 1, 2, 3, 4], (i) => channel.send(`${channel.label}${i}`)), { concurrency: "unbounded" })
      for (const [index, label] of labels.entries()) {
        assert.deepStrictEqual([...(yield* Fiber.join(arriving[index]!))], [0, 1, 2, 3, 4].map((i) => `${label}${i}`))
      }
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("negotiated channels with a fixed id pair up without announcing themselves", () =>
    Effect.gen(function*() {
      const { answerer, offerer } = yield* pair
      const config = { label: "fixed", negotiated: true, id: 42 } as const
      const mine = yield* offerer.peer.createDataChannel(config)
      const theirs = yield* answerer.peer.createDataChannel(config)
      yield* mine.opened
      yield* theirs.opened
      assert.strictEqual(mine.id(), 42)
      assert.strictEqual(theirs.id(), 42)
      assert.isTrue(mine.negotiated)
      const arriving = yield* Effect.forkChild(theirs.messages.pipe(Stream.runHead))
      const back = yield* Effect.forkChild(mine.messages.pipe(Stream.runHead))
      yield* mine.send("over negotiated")
      yield* theirs.send(new Uint8Array([4, 2]))
      assert.deepStrictEqual(yield* Fiber.join(arriving), Option.some("over negotiated"))
      assert.deepStrictEqual(yield* Fiber.join(back), Option.some(new Uint8Array([4, 2])))
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe.each(allTransports)("early messages on %s", (_name, makeTransport) => {
  it.live("messages sent the moment a connection opens are not lost before the peer takes its link", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const link = yield* alice.connector.connect(bob.identity.did)
      yield* link.control.send("first")
      yield* link.control.send("second")
      // Only now does anyone look at bob's side.
      yield* Effect.sleep("50 millis")
      const bobs = Option.getOrThrow(yield* bob.connector.incoming.pipe(Stream.runHead))
      const received = [...(yield* bobs.control.messages.pipe(Stream.take(2), Stream.runCollect))]
      assert.deepStrictEqual(received, ["first", "second"])
    }).pipe(Effect.scoped), { timeout: 20_000 })
})
