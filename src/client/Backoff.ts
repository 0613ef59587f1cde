/**
 * The delays between a client's reconnection attempts.
 *
 * The first delay (also before the first reconnection after a registered session is lost) is
 * drawn uniformly from 0 to `FIRST_RETRY_SPREAD_MS`: agents cut off together (a gateway restart,
 * a node drained behind a load balancer) spread their first attempts over that window instead
 * of all dialling at the same instant. Then 1 s doubling, capped at `RECONNECT_MAX_DELAY_MS`,
 * each delay drawn between half of it and all of it (Socket.IO's default works the same way:
 * a 5 s cap, ±50 %). The cap is 4 s rather than 5 s so that, however long the outage, an agent
 * dials again at most 4 s after its gateway is back and has the rest of the 5 s goal to
 * register; agents in the capped phase dial every 2–4 s, so after a long outage their first
 * attempts fall evenly over the first 2 s after the return and thin out to none at 4 s.
 *
 * @since 0.1.0
 */
import { Duration, Effect, Random, Schedule } from "effect"

/** The longest delay between two reconnection attempts. */
export const RECONNECT_MAX_DELAY_MS = 4_000

/** The first delay is drawn uniformly from 0 to this. */
export const FIRST_RETRY_SPREAD_MS = 2_000

/** The delays of `defaultReconnect` from the second on, before randomization: 1 s doubling, at most the cap. */
const capped = (attempt: Duration.Duration): Duration.Duration => Duration.min(attempt, Duration.millis(RECONNECT_MAX_DELAY_MS))

/**
 * The default reconnection delays: the first uniform over 0–2 s; then 1 s, 2 s, 4 s, 4 s, …,
 * each one 50–100 % of that at random; forever.
 */
export const defaultReconnect: Schedule.Schedule<unknown, unknown> = Schedule.exponential("500 millis", 2).pipe(
  Schedule.modifyDelay(({ attempt, duration }) =>
    attempt <= 1
      ? Effect.map(Random.next, (share) => Duration.millis(share * FIRST_RETRY_SPREAD_MS))
      : Effect.map(Random.nextBetween(0.5, 1), (share) => Duration.times(capped(duration), share))
  )
)
