/**
 * The delays between a client's reconnection attempts.
 *
 * 250 ms doubling, capped at `RECONNECT_MAX_DELAY_MS`, each delay drawn at random between half of
 * it and all of it (Socket.IO's default works the same way: a 5 s cap, ±50 % randomization). An
 * agent is therefore back within the cap of its gateway's return however long the outage was, and
 * agents that lost the gateway together spread their attempts over the second half of the cap
 * instead of arriving at once.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Random, Schedule } from "effect"

/** The longest delay between two reconnection attempts. */
export const RECONNECT_MAX_DELAY_MS = 5_000

/** The delays of `defaultReconnect` before randomization: 250 ms doubling, at most the cap. */
const capped = (attempt: Duration.Duration): Duration.Duration => Duration.min(attempt, Duration.millis(RECONNECT_MAX_DELAY_MS))

/** The default reconnection delays: 250 ms doubling up to 5 s, each one 50–100 % of that at random, forever. */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("250 millis", 2).pipe(
  Schedule.modifyDelay(({ duration }) => Effect.map(Random.nextBetween(0.5, 1), (share) => Duration.times(capped(duration), share)))
)
