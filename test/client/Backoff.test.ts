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
  it.effect("never waits more than 5 s between attempts, however long the outage", () =>
    Effect.gen(function*() {
      // 200 attempts cover an outage of over ten minutes.
      const waits = yield* delays(defaultReconnect, 200)
      assert.isAtMost(Math.max(...waits), Backoff.RECONNECT_MAX_DELAY_MS)
      assert.isAtMost(waits[0]!, 250)
      // Past the doubling, each wait is the second half of the cap.
      for (const wait of waits.slice(6)) assert.isAtLeast(wait, Backoff.RECONNECT_MAX_DELAY_MS / 2)
      const outage = waits.reduce((a, b) => a + b, 0)
      assert.isAbove(outage, 10 * 60 * 1000 * 0.7)
    }).pipe(Random.withSeed("outage")))

  it.effect("spreads agents that lost the gateway together over the second half of the cap", () =>
    Effect.gen(function*() {
      // The 20th wait of 2,000 agents: where they would land after a long outage.
      const waits = yield* Effect.forEach(Array.from({ length: 2000 }), () => Effect.map(delays(defaultReconnect, 20), (w) => w[19]!))
      const buckets = Array.from({ length: 5 }, () => 0)
      for (const wait of waits) buckets[Math.min(4, Math.floor((wait - 2500) / 500))]!++
      // Uniform over 2.5–5 s: every half second holds about a fifth of them (not a herd in one).
      for (const bucket of buckets) assert.isAbove(bucket, 2000 / 5 * 0.7)
    }).pipe(Random.withSeed("herd")))
})
