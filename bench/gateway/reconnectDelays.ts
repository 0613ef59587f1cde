/**
 * The client's reconnection delays (`Backoff.defaultReconnect`) for the benches' lean agents,
 * which reconnect with plain timers: a fresh schedule when a registered session is lost, then
 * one delay per attempt.
 */
import { Duration, Effect, Schedule } from "effect"
import { defaultReconnect } from "../../src/client/Backoff.ts"

export type Step = (now: number, input: unknown) => Effect.Effect<[unknown, Duration.Duration], unknown>

/** A new run of the default schedule. */
export const freshSchedule = (): Step => Effect.runSync(Schedule.toStep(defaultReconnect)) as Step

/** The next delay of a run, in milliseconds. */
export const nextDelay = (step: Step): number => Duration.toMillis(Effect.runSync(step(Date.now(), undefined))[1])
