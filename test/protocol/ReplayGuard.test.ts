import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { TestClock } from "effect/testing"
import * as Accept from "../../src/protocol/Accept.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import { identities } from "../fixtures/samples.ts"

describe("ReplayGuard", () => {
  it("keeps each record until its own expiry, then forgets it", () => {
    const guard = ReplayGuard.make()
    assert.strictEqual(guard.record("a", "1", 1_000, 0), "recorded")
    assert.strictEqual(guard.check("a", "1", 999), "replayed")
    assert.strictEqual(guard.record("a", "1", 2_000, 999), "replayed")
    assert.strictEqual(guard.check("b", "1", 999), "fresh")
    assert.strictEqual(guard.check("a", "1", 1_000), "fresh")
  })

  it("keeps expiries exact at epoch times, before and long after its first record", () => {
    const guard = ReplayGuard.make()
    const t = Date.parse("2026-03-04T05:06:07.089Z")
    assert.strictEqual(guard.record("a", "first", t + 60_000, t), "recorded")
    // Expiries before the first record's, and 30 days after it (past 2^31 ms from it).
    assert.strictEqual(guard.record("a", "earlier", t + 1, t), "recorded")
    const later = t + 30 * 86_400_000
    assert.strictEqual(guard.record("a", "later", later + 60_000, later), "recorded")
    assert.strictEqual(guard.check("a", "earlier", t), "replayed")
    assert.strictEqual(guard.check("a", "earlier", t + 1), "fresh")
    assert.strictEqual(guard.check("a", "first", t + 59_999), "replayed")
    assert.strictEqual(guard.check("a", "later", later + 59_999), "replayed")
    assert.strictEqual(guard.record("a", "later", later + 120_000, later + 59_999), "replayed")
    assert.strictEqual(guard.check("a", "later", later + 60_000), "fresh")
    // A sweep forgets exactly the expired ones.
    for (let i = 0; i < 40; i++) assert.strictEqual(guard.record("a", `more-${i}`, later + 60_001 + i, later + 60_000), "recorded")
    assert.strictEqual(guard.size(), 40)
    assert.strictEqual(guard.check("a", "more-39", later + 60_039), "replayed")
    assert.strictEqual(guard.check("a", "more-38", later + 60_039), "fresh")
  })

  it("a sender that keeps sending slowly (a PING every 20 s) holds a bounded number of records, not its whole history", () => {
    const guard = ReplayGuard.make()
    const skew = 60_000
    let most = 0
    for (let i = 0; i < 10_000; i++) {
      const now = i * 20_000
      assert.strictEqual(guard.record("pinger", `ping-${i}`, now + skew, now), "recorded")
      most = Math.max(most, guard.size())
    }
    // 3 live at a time; expired ones are swept once twice as many as the last sweep left are held.
    assert.isAtMost(most, 16)
    assert.strictEqual(guard.check("pinger", "ping-9999", 9_999 * 20_000), "replayed")
  })

  it("fails closed when a sender's quota is full and never evicts a live record", () => {
    const guard = ReplayGuard.make({ maxPerSender: 100, maxTotal: 1_000 })
    for (let i = 0; i < 100; i++) assert.strictEqual(guard.record("flooder", `id-${i}`, 60_000, 0), "recorded")
    assert.strictEqual(guard.record("flooder", "id-100", 60_000, 1), "full")
    assert.strictEqual(guard.check("flooder", "id-0", 2), "replayed")
    // Other senders are not affected by one sender's flood.
    assert.strictEqual(guard.record("honest", "x", 60_000, 2), "recorded")
    // Once the flood's records expire, the sender has room again.
    assert.strictEqual(guard.record("flooder", "id-101", 120_000, 60_000), "recorded")
    assert.strictEqual(guard.size(), 2)
  })

  it("bounds the total across senders", () => {
    const guard = ReplayGuard.make({ maxPerSender: 10, maxTotal: 25 })
    for (let sender = 0; sender < 5; sender++) {
      for (let i = 0; i < 5; i++) guard.record(`s${sender}`, `${i}`, 1_000, 0)
    }
    assert.strictEqual(guard.size(), 25)
    assert.strictEqual(guard.check("s9", "0", 10), "full")
    assert.strictEqual(guard.record("s9", "0", 1_000, 10), "full")
    assert.strictEqual(guard.record("s9", "0", 2_000, 1_000), "recorded")
  })

  it.effect("through Accept: a flood of unique ids, then a replay of an early one, is still refused", () =>
    Effect.gen(function*() {
      const { alice, gateway } = yield* identities
      const context: Accept.AcceptContext = {
        maxFrameBytes: 65536,
        refuseType: () => undefined,
        checkTo: () => Effect.succeed(true),
        replay: ReplayGuard.make({ maxPerSender: 50 })
      }
      const frames: Array<string> = []
      for (let i = 0; i < 60; i++) {
        frames.push(Envelope.encode(yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: i } })))
      }
      const codes: Array<string> = []
      for (const frame of frames) {
        const result = yield* Effect.result(Accept.accept(frame, context))
        codes.push(result._tag === "Success" ? "accepted" : result.failure.code)
      }
      assert.deepStrictEqual(codes.slice(0, 50), Array(50).fill("accepted"))
      assert.deepStrictEqual(codes.slice(50), Array(10).fill("RATE_LIMITED"))
      const replay = yield* Effect.flip(Accept.accept(frames[0]!, context))
      assert.strictEqual(replay.code, "REPLAYED")
      // Past its timestamp plus the skew, the early envelope is refused by the clock instead.
      yield* TestClock.adjust("61 seconds")
      const stale = yield* Effect.flip(Accept.accept(frames[0]!, context))
      assert.strictEqual(stale.code, "REPLAYED")
      assert.strictEqual(stale.step, 8)
    }))
})
