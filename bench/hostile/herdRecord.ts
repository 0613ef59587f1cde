/**
 * What the agents of a reconnection herd record (bench/hostile/herd.ts, reconnect.ts): when each
 * dialled and when each registered, in epoch ms, kept in the generator so that measuring does not
 * ask the gateway (whose HTTP endpoints wait behind the herd's connections). Answers the parent:
 * `count <epoch ms>` → `{"event":"count","registered"}` (agents registered since then);
 * `attempts <since> <origin>` (epoch ms) → each agent's first dial after `origin` and first
 * registration after `since`, in ms after `origin`, and all dials and registrations per 0.5 s over
 * the 10 s from `origin`.
 */
import { commands, emit } from "../gateway/common.ts"

export const record = (agents: number) => {
  const dials: Array<Array<number>> = Array.from({ length: agents }, () => [])
  const registrations: Array<Array<number>> = Array.from({ length: agents }, () => [])
  // The first time of each agent at or after `since`, in ms after `origin`.
  const firstSince = (times: Array<Array<number>>, since: number, origin: number) =>
    times.map((ts) => ts.find((t) => t >= since)).filter((t): t is number => t !== undefined).map((t) => t - origin).sort((a, b) => a - b)
  const perHalfSecond = (times: Array<Array<number>>, origin: number) => {
    const buckets = Array.from({ length: 20 }, () => 0)
    for (const ts of times) for (const t of ts) if (t >= origin && t < origin + 10_000) buckets[Math.floor((t - origin) / 500)]!++
    return buckets
  }
  commands((line) => {
    const [command, at, from] = line.split(" ")
    const since = Number(at)
    const origin = from === undefined ? since : Number(from)
    if (command === "count") {
      emit({ event: "count", registered: registrations.filter((ts) => ts.some((t) => t >= since)).length })
    } else if (command === "attempts") {
      emit({
        event: "attempts",
        firstDial: firstSince(dials, origin, origin),
        firstRegistration: firstSince(registrations, since, origin),
        dialsPerHalfSecond: perHalfSecond(dials, origin),
        registrationsPerHalfSecond: perHalfSecond(registrations, origin)
      })
    }
  })
  return {
    dialled: (index: number) => void dials[index]!.push(Date.now()),
    registered: (index: number) => void registrations[index]!.push(Date.now())
  }
}
