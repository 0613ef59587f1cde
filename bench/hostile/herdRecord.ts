/**
 * What the agents of a reconnection herd record (bench/hostile/herd.ts, reconnect.ts): when each
 * dialled and when each registered, in epoch ms, kept in the generator so that measuring does not
 * ask the gateway (whose HTTP endpoints wait behind the herd's connections). Answers the parent:
 * `count <epoch ms>` → `{"event":"count","registered"}` (agents registered since then);
 * `attempts <epoch ms>` → each agent's first dial and first registration after that instant (ms
 * after it) and all dials and registrations per 0.5 s over 10 s.
 */
import { commands, emit } from "../gateway/common.ts"

export const record = (agents: number) => {
  const dials: Array<Array<number>> = Array.from({ length: agents }, () => [])
  const registrations: Array<Array<number>> = Array.from({ length: agents }, () => [])
  const firstSince = (times: Array<Array<number>>, since: number) =>
    times.map((ts) => ts.find((t) => t >= since)).filter((t): t is number => t !== undefined).map((t) => t - since).sort((a, b) => a - b)
  const perHalfSecond = (times: Array<Array<number>>, since: number) => {
    const buckets = Array.from({ length: 20 }, () => 0)
    for (const ts of times) for (const t of ts) if (t >= since && t < since + 10_000) buckets[Math.floor((t - since) / 500)]!++
    return buckets
  }
  commands((line) => {
    const [command, at] = line.split(" ")
    const since = Number(at)
    if (command === "count") {
      emit({ event: "count", registered: registrations.filter((ts) => ts.some((t) => t >= since)).length })
    } else if (command === "attempts") {
      emit({
        event: "attempts",
        firstDial: firstSince(dials, since),
        firstRegistration: firstSince(registrations, since),
        dialsPerHalfSecond: perHalfSecond(dials, since),
        registrationsPerHalfSecond: perHalfSecond(registrations, since)
      })
    }
  })
  return {
    dialled: (index: number) => void dials[index]!.push(Date.now()),
    registered: (index: number) => void registrations[index]!.push(Date.now())
  }
}
