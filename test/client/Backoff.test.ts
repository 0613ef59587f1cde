import { assert, describe, it } from "@effect/vitest"
import { Duration, Effect, Random, Schedule } from "effect"
import * as Backoff from "../../src/client/Backoff.ts"
import { defaultReconnect } from "../../src/client/GatewayClient.ts"

/** The first `count` delays of `schedule`, in milliseconds (each step at the time the previous delay ended). */
const delays = (schedule: Schedule.Schedule<unknown, unknown>, count: number) =>
  Effect.gen(function*() {
    const step = yield* Schedule.toStep(schedule)
    const out: Array<number> = []
    let now = 0
    for (let i = 0; i < count; i++) {
      const [, delay] = yield* step(now, undefined)
      out.push(Duration.toMillis(delay))
      now += Duration.toMillis(delay)
    }
    return out
  })

describe("reconnection backoff", () => {
  it.effect("never waits more than the cap between attempts, however long the outage", () =>
    Effect.gen(function*() {
      // 300 attempts cover an outage of over ten minutes.
      const waits = yield* delays(defaultReconnect, 300)
      assert.isAtMost(Math.max(...waits), Backoff.RECONNECT_MAX_DELAY_MS)
      assert.isBelow(Backoff.RECONNECT_MAX_DELAY_MS, 5_000)
      assert.isAtMost(waits[0]!, Backoff.FIRST_RETRY_SPREAD_MS)
      // Past the doubling (1 s, 2 s, then the cap), each wait is the second half of the cap.
      for (const wait of waits.slice(3)) assert.isAtLeast(wait, Backoff.RECONNECT_MAX_DELAY_MS / 2)
      const outage = waits.reduce((a, b) => a + b, 0)
      assert.isAbove(outage, 10 * 60 * 1000)
    }).pipe(Random.withSeed("outage")))

  it.effect("spreads the first attempts of agents cut off together evenly over the first window", () =>
    Effect.gen(function*() {
      const firsts = yield* Effect.forEach(Array.from({ length: 2000 }), () => Effect.map(delays(defaultReconnect, 1), (w) => w[0]!))
      const buckets = Array.from({ length: 4 }, () => 0)
      for (const wait of firsts) buckets[Math.min(3, Math.floor(wait / (Backoff.FIRST_RETRY_SPREAD_MS / 4)))]!++
      // Uniform over 0–2 s: every half second holds about a quarter of them (not a herd at 0).
      for (const bucket of buckets) assert.isAbove(bucket, 2000 / 4 * 0.8)
    }).pipe(Random.withSeed("first")))

  it.effect("spreads agents that lost the gateway together over the second half of the cap", () =>
    Effect.gen(function*() {
      // The 20th wait of 2,000 agents: where they would land after a long outage.
      const waits = yield* Effect.forEach(Array.from({ length: 2000 }), () => Effect.map(delays(defaultReconnect, 20), (w) => w[19]!))
      const half = Backoff.RECONNECT_MAX_DELAY_MS / 2
      const buckets = Array.from({ length: 4 }, () => 0)
      for (const wait of waits) buckets[Math.min(3, Math.floor((wait - half) / (half / 4)))]!++
      // Uniform over 2–4 s: every half second holds about a quarter of them (not a herd in one).
      for (const bucket of buckets) assert.isAbove(bucket, 2000 / 4 * 0.8)
    }).pipe(Random.withSeed("herd")))
})
