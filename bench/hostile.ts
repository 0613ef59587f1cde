/**
 * Hostile benchmark (`npm run bench -- hostile`): attacks on a live gateway and on an agent, a
 * fuzz run over every decoder, faults, and (on request) a 10-minute soak (issue 18).
 *
 * Gateway attacks: a gateway process with its default limits (only host and port set); an honest
 * pair (load.ts pingpong: one signed OFFER round trip every 25 ms from 127.0.0.1) measures relay
 * p50/p99 quiet, then during the attack; the attacker runs in a process of its own from other
 * loopback addresses (each one host to the gateway's per-IP limits). Reported: the ratio of the
 * attack's p50/p99 to quiet (goal ≤ 2×), the honest frames lost (goal 0), the gateway's peak RSS
 * and CPU, new registrations from an honest address during the attack, /health, and what the
 * attacker saw; beside them the honest pair's own event-loop delay (what of its p99 is waiting for
 * a CPU on this machine) and the attacker's CPU share. The baseline "not our code" is the same
 * gateway unattacked (quiet).
 *
 * Agent attacks: a victim agent process (serves echo, never reads INTENTs) and an honest agent
 * calling echo every 25 ms; an attacking agent process floods INTENTs and requests, or opens
 * sessions from many DIDs. Reported: the honest calls' p50/p99 ratio, failures, victim peak RSS.
 *
 * Fuzz: HOSTILE_BENCH_FUZZ mutated inputs (default 1,050,000) spread over every decoder of
 * test/protocol/fuzz.ts; 0 throws expected.
 *
 * Faults: the gateway SIGKILLed under open sessions and restarted (calls over the data channel
 * keep flowing; time until both agents are registered again); a peer SIGKILLed (time until the
 * other side's session ends, and the typed failure of a call); Redis restarted under a two-node
 * cluster (time until cross-node routing works again); packet loss and delay with tc netem in a
 * network namespace, and (for kernels without netem) random loss by iptables' statistic match
 * there (echo calls over an ordered data channel are all answered).
 *
 * DID churn (on request): fresh DIDs registering and leaving, the gateway's heap after a full GC
 * against the DIDs seen (the caches keyed by DID fill to their caps, then the heap is flat).
 *
 * Environment: HOSTILE_BENCH_PARTS (gateway,agent,fuzz,faults; add soak for the 10-minute soak,
 * did-churn for the DID churn), HOSTILE_BENCH_DID_CHURN_TURNS (8),
 * HOSTILE_BENCH_ATTACK_SECONDS (8), HOSTILE_BENCH_ATTACKS (a comma list of attack names),
 * HOSTILE_BENCH_FUZZ (1050000), HOSTILE_BENCH_SOAK_SECONDS (600), HOSTILE_BENCH_CPU_PROF (a folder: profile
 * each attacked gateway with --cpu-prof), HOSTILE_BENCH_GATEWAY_FLAGS (more node flags for it). The machine these numbers come
 * from is shared and small: read the ratios, not the absolute values.
 */
import { rmSync } from "node:fs"
import { loadavg, setPriority } from "node:os"
import { type Child, cpuUs, dataDirs, GATEWAY_SCRIPT, gatewayArgs, rssKiB, sleep, start } from "./gateway.ts"
import * as Clients from "./gateway/clients.ts"
import { summarize } from "./gateway/common.ts"
import * as Faults from "./hostile/faults.ts"
import * as AgentAttacks from "./hostile/agentAttacks.ts"
import * as Fuzz from "../test/protocol/fuzz.ts"
import * as Identity from "../src/protocol/Identity.ts"
import * as NodeEd25519 from "../src/protocol/NodeEd25519.ts"
import { Effect } from "effect"

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const PARTS = new Set((process.env.HOSTILE_BENCH_PARTS ?? "gateway,agent,fuzz,faults").split(",").map((p) => p.trim()))
const ATTACK_MS = env("HOSTILE_BENCH_ATTACK_SECONDS", 8) * 1000
const FUZZ_INPUTS = env("HOSTILE_BENCH_FUZZ", 1_050_000)
const SOAK_MS = env("HOSTILE_BENCH_SOAK_SECONDS", 600) * 1000
/** HOSTILE_BENCH_CPU_PROF=<dir>: each attacked gateway process writes a V8 CPU profile there (bench/gateway/profile.ts summarises it). */
const CPU_PROF_DIR = process.env.HOSTILE_BENCH_CPU_PROF
/** HOSTILE_BENCH_GATEWAY_FLAGS: extra node flags of each attacked gateway process (e.g. `--trace-gc`), space-separated. */
const GATEWAY_FLAGS = (process.env.HOSTILE_BENCH_GATEWAY_FLAGS ?? "").split(" ").filter((flag) => flag.length > 0)

interface Attack {
  readonly name: string
  readonly mode: string
  readonly sources: ReadonlyArray<string>
  readonly what: string
}
const attacks: ReadonlyArray<Attack> = [
  { name: "frame flood", mode: "frames", sources: ["127.0.0.2", "127.0.0.3"], what: "8 sessions, valid signed OFFERs at full rate, reconnecting" },
  { name: "junk", mode: "junk", sources: ["127.0.0.2", "127.0.0.3"], what: "8 sessions, invalid JSON/binary/text at full rate, reconnecting" },
  { name: "duplicate-key frames", mode: "dupkeys", sources: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], what: "16 sessions, 60 KB duplicate-name frames, reconnecting" },
  { name: "never-reading clients", mode: "unread", sources: ["127.0.0.2"], what: "20 agents × 13 KB capabilities; 100 sessions not reading, PING 10/s + DISCOVER 1/s" },
  { name: "idle TCP", mode: "idle-tcp", sources: ["127.0.0.2", "127.0.0.3"], what: "2 hosts keeping up to 9,000 idle TCP connections each" },
  { name: "slow handshakes", mode: "slow-handshake", sources: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], what: "800 upgrade requests, one byte every 500 ms" },
  { name: "connection churn", mode: "churn", sources: ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"], what: "32 loops of connect, REGISTER, close" },
  { name: "DISCOVER scraping", mode: "scrape", sources: ["127.0.0.2", "127.0.0.3"], what: "32 sessions paging DISCOVER at full rate, reconnecting" }
]

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))

/** Samples a process's RSS every 100 ms until stopped; the peak in MiB. */
const rssSampler = (pid: number) => {
  let peak = 0
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssKiB(pid))
    } catch {
      // exited
    }
  }, 100)
  return { stop: () => (clearInterval(timer), peak / 1024), peek: () => peak / 1024 }
}

/** New registrations from an honest address every 250 ms, and /health, while `running()`: their times and failures. */
const probeHonest = async (url: string, running: () => boolean) => {
  const times: Array<number> = []
  let failures = 0
  let healthFailures = 0
  const httpUrl = url.replace(/^ws/, "http").replace(/\/ws$/, "")
  while (running()) {
    const t0 = performance.now()
    try {
      const socket = await Clients.gateway(url, generate(), 5000, { localAddress: "127.0.0.1" })
      times.push(performance.now() - t0)
      socket.terminate()
    } catch {
      failures++
    }
    try {
      const response = await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(2000) })
      if (!response.ok) healthFailures++
    } catch {
      healthFailures++
    }
    await sleep(250)
  }
  return { registration: summarize(times), failures, healthFailures }
}

interface AttackResult {
  readonly attack: Attack
  readonly quiet: { p50: number; p99: number }
  readonly attacked: { p50: number; p99: number; count: number }
  readonly lost: number
  readonly closes: ReadonlyArray<number>
  readonly peakRssMiB: number
  readonly baseRssMiB: number
  /** The gateway's event loop delay during the attack (what the gateway itself adds, apart from the machine). */
  readonly loop: { readonly p99: number; readonly max: number }
  /** The gateway's loop at 1 ms resolution, from inside it (bench/hostile/turns.ts). */
  readonly turns: Turns
  readonly cpu: number
  /** The honest pair's own process: its event loop delay p99 quiet and attacked (ms), and the attacker's CPU share. */
  readonly honestLoop: { readonly quiet: number; readonly attacked: number }
  readonly attackerCpu: number
  readonly probe: Awaited<ReturnType<typeof probeHonest>>
  readonly counts: Record<string, number>
}

/** bench/hostile/turns.ts's report. */
interface Turns {
  readonly ticks: number
  readonly p50: number
  readonly p99: number
  readonly max: number
  readonly over: Record<string, { readonly n: number; readonly onCpu: number }>
  readonly threadCpu: number
  readonly cpuP99: number
  readonly cpuP999: number
  readonly cpuMax: number
  readonly cpuOver: Record<string, number>
  readonly longGaps: Record<string, Spent>
  readonly longest: ReadonlyArray<{ readonly cpu: number; readonly spent: Record<string, Spent> }>
  readonly gc: { readonly count: number; readonly ms: number; readonly max: number; readonly over2: number; readonly majors: number }
}

interface Spent {
  readonly n: number
  readonly ms: number
  readonly bytes: number
  readonly max: number
}
const spentLine = (spent: Record<string, Spent>) =>
  Object.entries(spent).sort((a, b) => b[1].ms - a[1].ms).slice(0, 5)
    .map(([what, s]) => `${what} ${s.n}× ${fixed(s.ms, 1)} ms${s.bytes > 0 ? ` ${fixed(s.bytes / 1024, 0)} KiB` : ""} (max ${fixed(s.max, 1)})`).join(", ")

/** A 1 ms tick's lateness p50/p99/max, ticks later than 5 and 10 ms (with the share of their gaps the gateway's thread was on the CPU), its thread's CPU share. */
const turnsLine = (t: Turns) =>
  `gateway 1 ms ticks: late p50/p99/max ${fixed(t.p50, 2)}/${fixed(t.p99, 1)}/${fixed(t.max, 0)} ms; ` +
  [2, 5, 10, 20].map((ms) => `>${ms} ms ${t.over[`over${ms}`]?.n ?? 0} (on CPU ${fixed((t.over[`over${ms}`]?.onCpu ?? Number.NaN) * 100, 0)}%)`).join(", ") +
  `; main thread CPU ${fixed(t.threadCpu * 100, 0)}% of ${t.ticks} ticks` +
  `\n  gateway CPU between two ticks (its own turns) p99/p99.9/max ${fixed(t.cpuP99, 2)}/${fixed(t.cpuP999, 1)}/${fixed(t.cpuMax, 1)} ms, ` +
  [2, 5, 10].map((ms) => `>${ms} ms ${t.cpuOver[`cpuOver${ms}`] ?? 0}`).join(", ") +
  `\n  in the gaps with over 2 ms of CPU: ${spentLine(t.longGaps)}` +
  t.longest.map((l) => `\n    a gap of ${fixed(l.cpu, 1)} ms CPU: ${spentLine(l.spent)}`).join("") +
  `\n  GC ${t.gc.count} pauses (${t.gc.majors} mark-compact), ${fixed(t.gc.ms, 0)} ms in all, max ${fixed(t.gc.max, 1)} ms, ${t.gc.over2} over 2 ms`

const runAttack = async (attack: Attack): Promise<AttackResult> => {
  const server = start(`gateway (${attack.name})`, GATEWAY_SCRIPT, gatewayArgs({}), [
    ...(CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`]),
    ...GATEWAY_FLAGS
  ])
  try {
    const { url } = await server.next("listening", 30_000)
    const honest = start("pingpong", "load.ts", [JSON.stringify({ mode: "pingpong", url, intervalMs: 25, phaseMs: ATTACK_MS })])
    let attacker: Child | undefined
    try {
      const quiet = await honest.next("phase", 60_000)
      const baseRssMiB = rssKiB(server.pid) / 1024
      attacker = start(attack.name, "../hostile/attack.ts", [JSON.stringify({ mode: attack.mode, url, sources: attack.sources, durationMs: ATTACK_MS + 60_000 })])
      // Below the gateway and the honest pair in the scheduler: on this small machine the attacker
      // stands for other hosts, and should not win the CPU the gateway needs.
      setPriority(attacker.pid, 19)
      await attacker.next("attacking", 60_000)
      await sleep(500)
      const rss = rssSampler(server.pid)
      const cpu0 = cpuUs(server.pid)
      const attackerCpu0 = cpuUs(attacker.pid)
      const t0 = performance.now()
      server.send("loop-reset")
      server.send("turns-reset")
      honest.send("go")
      let running = true
      const probing = probeHonest(url as string, () => running)
      const attacked = await honest.next("phase", ATTACK_MS + 60_000)
      running = false
      const cpu = (cpuUs(server.pid) - cpu0) / 1e6 / ((performance.now() - t0) / 1000)
      const attackerCpu = (cpuUs(attacker.pid) - attackerCpu0) / 1e6 / ((performance.now() - t0) / 1000)
      server.send("loop")
      const loop = await server.next("loop", 10_000)
      server.send("turns")
      const turns = await server.next("turns", 10_000) as unknown as Turns
      const probe = await probing
      attacker.send("stop")
      const done = await attacker.next("attack-done", 60_000)
      const q = quiet.latency as { p50: number; p99: number }
      return {
        attack,
        quiet: q,
        attacked: attacked.latency as { p50: number; p99: number; count: number },
        lost: attacked.lost as number,
        closes: attacked.closes as Array<number>,
        loop: { p99: loop.p99 as number, max: loop.max as number },
        turns,
        peakRssMiB: rss.stop(),
        baseRssMiB,
        cpu,
        honestLoop: { quiet: (quiet.loop as { p99: number }).p99, attacked: (attacked.loop as { p99: number }).p99 },
        attackerCpu,
        probe,
        counts: done.counts as Record<string, number>
      }
    } finally {
      await attacker?.stop()
      await honest.stop()
    }
  } finally {
    await server.stop()
  }
}

const gatewayPart = async () => {
  const only = process.env.HOSTILE_BENCH_ATTACKS?.split(",").map((a) => a.trim())
  console.log(`\ngateway attacks: default limits; honest pair from 127.0.0.1, one OFFER round trip every 25 ms, ${ATTACK_MS / 1000} s quiet then ${ATTACK_MS / 1000} s attacked`)
  console.log(`machine load average at start: ${loadavg().map((l) => l.toFixed(1)).join(" ")} (2 cores, shared)`)
  console.log("attack                  | quiet p50/p99 ms | attacked p50/p99 ms | ratio p50/p99 | lost | gateway loop delay p99/max ms | gateway RSS MiB (base→peak) | CPU | new REGISTER p50 ms (failed) | /health failed | honest process loop delay p99 ms quiet→attacked | attacker CPU")
  const results: Array<AttackResult> = []
  for (const attack of attacks) {
    if (only !== undefined && !only.includes(attack.name) && !only.includes(attack.mode)) continue
    try {
      const r = await runAttack(attack)
      results.push(r)
      console.log(
        `${attack.name.padEnd(23)} | ${fixed(r.quiet.p50, 2)} / ${fixed(r.quiet.p99, 2)} | ${fixed(r.attacked.p50, 2)} / ${fixed(r.attacked.p99, 2)} | ` +
          `${fixed(r.attacked.p50 / r.quiet.p50, 2)}× / ${fixed(r.attacked.p99 / r.quiet.p99, 2)}× | ${r.lost}${r.closes.length > 0 ? ` (closed ${r.closes.join(",")})` : ""} | ` +
          `${fixed(r.loop.p99, 1)} / ${fixed(r.loop.max, 0)} | ` +
          `${fixed(r.baseRssMiB, 0)}→${fixed(r.peakRssMiB, 0)} | ${fixed(r.cpu * 100, 0)}% | ${fixed(r.probe.registration.p50, 1)} (${r.probe.failures}) | ${r.probe.healthFailures} | ` +
          `${fixed(r.honestLoop.quiet, 1)}→${fixed(r.honestLoop.attacked, 1)} | ${fixed(r.attackerCpu * 100, 0)}%`
      )
      console.log(`  ${attack.what}; attacker saw ${JSON.stringify(r.counts)}`)
      console.log(`  ${turnsLine(r.turns)}`)
    } catch (cause) {
      console.log(`${attack.name.padEnd(23)} | failed to run: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }
  return results
}

const fuzzPart = () => {
  const perTarget = Math.ceil(FUZZ_INPUTS / Fuzz.targets.length)
  console.log(`\nfuzz: ${perTarget * Fuzz.targets.length} mutated inputs (${perTarget} per decoder, seeded), every decoder a peer or client reaches`)
  console.log("decoder                                       | inputs  | accepted | refused (typed) | throws/untyped | µs/input")
  let failures = 0
  let total = 0
  for (const [index, target] of Fuzz.targets.entries()) {
    const random = Fuzz.prng(1800 + index)
    const tally = Fuzz.tally(target)
    const t0 = performance.now()
    for (let i = 0; i < perTarget; i++) Fuzz.runOne(target, Fuzz.mutant(target, random), tally)
    const us = ((performance.now() - t0) * 1000) / perTarget
    failures += tally.failures
    total += tally.runs
    console.log(`${target.name.padEnd(45)} | ${String(tally.runs).padStart(7)} | ${String(tally.accepted).padStart(8)} | ${String(tally.refused).padStart(15)} | ${String(tally.failures).padStart(14)} | ${fixed(us, 1)}`)
    for (const finding of tally.findings.slice(0, 3)) console.log(`  finding: ${finding.error} on ${finding.input}`)
  }
  console.log(`fuzz total: ${total} inputs, ${failures} throws or untyped errors`)
}

export const main = async () => {
  console.log("hostile: attacks, fuzz and faults (issue 18). The machine is small and shared: numbers are indicative; read the ratios.")
  try {
    if (PARTS.has("gateway")) await gatewayPart()
    if (PARTS.has("agent")) await AgentAttacks.run(ATTACK_MS)
    if (PARTS.has("fuzz")) fuzzPart()
    if (PARTS.has("faults")) await Faults.run()
    if (PARTS.has("did-churn")) await Faults.didChurn(env("HOSTILE_BENCH_DID_CHURN_TURNS", 8), 15_000)
    if (PARTS.has("soak")) await Faults.soak(SOAK_MS)
  } finally {
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
  }
}
