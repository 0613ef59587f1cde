/**
 * The agent attacks of `npm run bench -- hostile`: a victim agent, an honest agent calling its
 * `echo` every 25 ms, and a hostile peer; every one a process of its own, on a gateway process.
 */
import { setPriority } from "node:os"
import { type Child, GATEWAY_SCRIPT, gatewayArgs, rssKiB, start } from "../gateway.ts"

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")

interface AgentAttack {
  readonly name: string
  readonly role: string
  readonly what: string
  /** Victim limits other than the defaults. */
  readonly limits?: Record<string, number>
}
const attacks: ReadonlyArray<AgentAttack> = [
  { name: "flooding peer (INTENTs)", role: "intent-flood", what: "INTENTs as fast as the channel takes them; the victim never reads them" },
  { name: "flooding peer (requests)", role: "request-flood", what: "100 concurrent calls of a 200 ms capability, again and again" },
  { name: "many sessions", role: "many-sessions", what: "12 DIDs × 6 sessions; victim limits: 4 per peer, 32 in all", limits: { maxSessions: 32 } }
]

const AGENT_SCRIPT = "../hostile/agent.ts"

const runOne = async (attack: AgentAttack, phaseMs: number) => {
  const gateway = start("gateway", GATEWAY_SCRIPT, gatewayArgs({}))
  const started: Array<Child> = [gateway]
  try {
    const { url } = await gateway.next("listening", 30_000)
    const victim = start("victim", AGENT_SCRIPT, [JSON.stringify({ role: "victim", url, ...(attack.limits === undefined ? {} : { limits: attack.limits }) })])
    started.push(victim)
    const { did } = await victim.next("ready", 60_000)
    const honest = start("honest", AGENT_SCRIPT, [JSON.stringify({ role: "honest", url, victim: did, phaseMs })])
    started.push(honest)
    const quiet = await honest.next("phase", phaseMs + 60_000)
    const base = rssKiB(victim.pid) / 1024
    const attacker = start(attack.name, AGENT_SCRIPT, [JSON.stringify({ role: attack.role, url, victim: did })])
    started.push(attacker)
    setPriority(attacker.pid, 19)
    await attacker.next("attacking", 60_000)
    let peak = base
    const sampler = setInterval(() => (peak = Math.max(peak, rssKiB(victim.pid) / 1024)), 100)
    honest.send("go")
    const attacked = await honest.next("phase", phaseMs + 60_000)
    clearInterval(sampler)
    attacker.send("stop")
    // Its last report of counts (a busy attacker may be slow to answer `stop`).
    let last: unknown = "(no report)"
    while (true) {
      const report = await attacker.next("counts", 100).catch(() => undefined)
      if (report === undefined) break
      last = report.counts
    }
    const done = await attacker.next("attack-done", 10_000).catch(() => ({ counts: last }))
    return { quiet, attacked, base, peak, counts: done.counts }
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

export const run = async (phaseMs: number) => {
  console.log(`\nagent attacks: a victim agent (serves echo, never reads INTENTs), an honest agent calling echo every 25 ms over WebRTC, a hostile peer; ${phaseMs / 1000} s quiet then ${phaseMs / 1000} s attacked`)
  console.log("attack                    | quiet p50/p99 ms | attacked p50/p99 ms | ratio p50/p99 | honest failures | victim RSS MiB (base→peak)")
  const only = process.env.HOSTILE_BENCH_ATTACKS?.split(",").map((a) => a.trim())
  for (const attack of attacks) {
    if (only !== undefined && !only.includes(attack.name) && !only.includes(attack.role)) continue
    try {
      const r = await runOne(attack, phaseMs)
      const q = r.quiet.latency as { p50: number; p99: number }
      const a = r.attacked.latency as { p50: number; p99: number }
      console.log(
        `${attack.name.padEnd(25)} | ${fixed(q.p50, 2)} / ${fixed(q.p99, 2)} | ${fixed(a.p50, 2)} / ${fixed(a.p99, 2)} | ` +
          `${fixed(a.p50 / q.p50, 2)}× / ${fixed(a.p99 / q.p99, 2)}× | ${JSON.stringify(r.attacked.failures)} | ${fixed(r.base, 0)}→${fixed(r.peak, 0)}`
      )
      console.log(`  ${attack.what}; the attacker saw ${JSON.stringify(r.counts)}`)
    } catch (cause) {
      console.log(`${attack.name.padEnd(25)} | failed to run: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }
}
