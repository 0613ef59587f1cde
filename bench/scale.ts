/**
 * Scale benchmark (`npm run bench -- scale`): one gateway node with as many idle registered agents
 * as asked (50,000 by default) beside a raw `ws` server holding the same count, then a cluster of
 * three nodes on one redis-server.
 *
 * One node: registration of all agents (rate, p50/p99 of one connect) vs raw `ws` connects, RSS per
 * idle agent vs raw `ws` (both with npm start's node flags), the node's CPU while the agents only
 * heartbeat at the default interval, relay latency and CPU per message at a fixed pace among a few
 * pairs while the rest idle, at 10,000 agents and at the full count, and a restart of the node
 * (SIGKILL, started again on the same port) with every agent reconnecting with the client's backoff.
 *
 * Cluster: three nodes and a redis-server (temporary, random port, removed at the end), agents on
 * each node: Redis commands per second per agent while idle (INFO commandstats deltas), relay CPU
 * per message with both agents of a pair on one node vs on different nodes, and one node killed
 * with its agents reconnecting to the other two.
 *
 * Every server and generator is a child process; agents are spread over generators of at most
 * 10,000 sockets, each dialling from a loopback address of its own (127.0.1.x: one address runs out
 * of ephemeral ports near 28,000 connections). A process may hold at most the hard `nofile` limit
 * of sockets: the node's agent count is cut to fit it, and the cut is printed.
 *
 * Environment: SCALE_BENCH_AGENTS (50000: agents on the one node), SCALE_BENCH_CLUSTER_AGENTS
 * (10000: agents per cluster node), SCALE_BENCH_PARTS (node,cluster), SCALE_BENCH_PACED_RATE (4000),
 * SCALE_BENCH_CPU_PROF=<dir> (profile the cluster nodes with --cpu-prof), SCALE_BENCH_SIGNED_PING=1
 * (idle agents heartbeat with the signed PING of older clients instead of the heartbeat frame).
 */
import { readFileSync, rmSync } from "node:fs"
import { execFileSync } from "node:child_process"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as RedisServer from "../test/gateway/redisServer.ts"
import { type Child, cpuUs, dataDirs, GATEWAY_SCRIPT, gatewayArgs, rssKiB, sleep, start } from "./gateway.ts"
import * as GatewayConfig from "../src/gateway/GatewayConfig.ts"

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const AGENTS = env("SCALE_BENCH_AGENTS", 50_000)
const CLUSTER_AGENTS = env("SCALE_BENCH_CLUSTER_AGENTS", 10_000)
const PACED_RATE = env("SCALE_BENCH_PACED_RATE", 4000)
const PARTS = new Set((process.env.SCALE_BENCH_PARTS ?? "node,cluster").split(",").map((part) => part.trim()))
const CPU_PROF_DIR = process.env.SCALE_BENCH_CPU_PROF
/** Sockets per generator process (and source address). */
const PER_GENERATOR = 10_000
/** Connects in flight per generator. */
const CONCURRENCY = 50
const HEARTBEAT_MS = GatewayConfig.defaults.heartbeatIntervalMs
/** Pairs that relay at the fixed pace while the other agents idle. */
const RELAY_PAIRS = 50
const RELAY_MS = 5000
const IDLE_WINDOW_MS = HEARTBEAT_MS

/** The hard limit on open files of a process started from here (children inherit it). */
const nofileHard = (): number => {
  const line = readFileSync("/proc/self/limits", "utf8").split("\n").find((l) => l.startsWith("Max open files"))
  const hard = line?.split(/\s{2,}/)[2]
  return hard === undefined || hard === "unlimited" ? Number.POSITIVE_INFINITY : Number(hard)
}
/** File descriptors a server keeps besides its agents' sockets (listening socket, Redis, stdio, libuv). */
const FD_MARGIN = 200

/**
 * Gateway settings of every scale run: the defaults, except the per-source-address limits (the
 * agents come from a handful of loopback addresses standing for many hosts) and room for the count.
 */
const scaleConfig = (agents: number) => ({
  maxConnectionsPerIp: 1e6,
  maxTcpConnectionsPerIp: 1e6,
  handshakeRatePerIp: { perSecond: 1e9, burst: 1e9 },
  maxSessions: Math.max(GatewayConfig.defaults.maxSessions, agents + 1000)
})

// ---------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------

interface Generators {
  readonly children: ReadonlyArray<Child>
  readonly counts: ReadonlyArray<number>
  /** Every generator connects up to its share of `total`; the samples and wall time of all. */
  readonly connect: (total: number) => Promise<{ count: number; failed: number; ms: number; samples: Array<number> }>
  readonly all: (line: string, answer: string) => Promise<Array<Record<string, unknown>>>
  readonly stop: () => Promise<void>
}

let nextAddress = 1
/** Generators for `count` agents of `kind`, agent i of one dialling `urls[i % urls.length]`. */
const generators = async (kind: "gateway" | "raw", urls: ReadonlyArray<string>, count: number): Promise<Generators> => {
  const n = Math.ceil(count / PER_GENERATOR)
  const counts = Array.from({ length: n }, (_, g) => Math.floor(count / n) + (g < count % n ? 1 : 0))
  const children = counts.map((share, g) => {
    const localAddress = `127.0.1.${nextAddress++ % 250 + 1}`
    // Niced: on a shared machine the measured processes (servers, the relay generator) go first; idle agents only need to keep up with heartbeats.
    return start(`agents ${localAddress}`, "../scale/agents.ts", [JSON.stringify({ kind, urls, count: share, localAddress, concurrency: CONCURRENCY })], [], [
      "nice",
      "-n",
      "10"
    ])
  })
  await Promise.all(children.map((child) => child.next("ready", 120_000)))
  const all = (line: string, answer: string) =>
    Promise.all(children.map((child) => {
      child.send(line)
      return child.next(answer, 600_000) as Promise<Record<string, unknown>>
    }))
  const connected = new Array<number>(n).fill(0)
  return {
    children,
    counts,
    all,
    connect: async (total) => {
      const started = performance.now()
      const answers = await Promise.all(children.map((child, g) => {
        const target = Math.min(counts[g]!, Math.round((total * counts[g]!) / count))
        child.send(`connect ${target}`)
        return child.next("connected", 900_000)
      }))
      const samples = answers.flatMap((a) => a.samples as Array<number>)
      answers.forEach((a, g) => void (connected[g] = (connected[g] ?? 0) + (a.count as number)))
      return {
        count: samples.length,
        failed: answers.reduce((sum, a) => sum + (a.failed as number), 0),
        ms: performance.now() - started,
        samples
      }
    },
    stop: async () => void (await Promise.all(children.map((child) => child.stop())))
  }
}

// ---------------------------------------------------------------------------
// Measurements
// ---------------------------------------------------------------------------

const quantile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!
const percentiles = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), max: sorted.at(-1) ?? Number.NaN }
}

/** CPU share (1 = one core) of processes `pids` over `ms`. */
const cpuShare = async (pids: ReadonlyArray<number>, ms: number): Promise<number> => {
  const sum = () => pids.reduce((total, pid) => total + cpuUs(pid), 0)
  const before = sum()
  const t0 = performance.now()
  await sleep(ms)
  return (sum() - before) / 1000 / (performance.now() - t0)
}

/** RSS in KiB of a server after a forced GC (it runs with --expose-gc). */
const rssAfterGc = async (server: Child): Promise<number> => {
  server.send("gc")
  await server.next("gc", 60_000)
  await sleep(300)
  return rssKiB(server.pid)
}

interface Relayed {
  readonly rate: number
  readonly p50: number
  readonly p99: number
  /** Server CPU per message in µs, all of it. */
  readonly grossUs: number
  /** Server CPU per message in µs, less the idle CPU (heartbeats) measured before the relay runs. */
  readonly netUs: number
  readonly idleShare: number
  readonly errors: number
}

/**
 * `RELAY_PAIRS` pairs relaying `PACED_RATE` signed OFFERs per second in all (agent i on
 * `urls[i % n]`), CPU of `pids`; `idleShare` is their CPU while only the idle agents heartbeat
 * (measured before any relay: a backlog left by a starved relay run would inflate it).
 */
const pacedRelay = async (urls: ReadonlyArray<string>, pids: ReadonlyArray<number>, idleShare: number): Promise<Relayed> => {
  const load = start("relay", "load.ts", [JSON.stringify({
    mode: "relay",
    kind: "gateway",
    url: urls[0],
    urls,
    pairs: RELAY_PAIRS,
    window: 1,
    warmupMs: 0,
    durationMs: 0,
    presign: 0,
    pacedRate: PACED_RATE,
    pacedWarmupMs: 1000,
    pacedDurationMs: RELAY_MS
  })])
  try {
    await load.next("window-start", 60_000)
    const before = pids.reduce((total, pid) => total + cpuUs(pid), 0)
    const end = await load.next("window-end", RELAY_MS + 60_000)
    const used = pids.reduce((total, pid) => total + cpuUs(pid), 0) - before
    const seconds = end.seconds as number
    const received = end.received as number
    const latency = end.latency as { p50: number; p99: number }
    return {
      rate: received / seconds,
      p50: latency.p50,
      p99: latency.p99,
      grossUs: used / received,
      netUs: (used - idleShare * seconds * 1e6) / received,
      idleShare,
      errors: end.errors as number
    }
  } finally {
    await load.stop()
  }
}

// ---------------------------------------------------------------------------
// Report helpers
// ---------------------------------------------------------------------------

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
const pad = (s: string, n: number) => s.padStart(n)
const registrationLine = (label: string, r: { count: number; failed: number; ms: number; samples: Array<number> }) => {
  const p = percentiles(r.samples)
  return `${label.padEnd(34)} ${pad(String(r.count), 7)} ${pad(fixed(r.ms / 1000), 7)} ${pad(fixed(r.count / (r.ms / 1000), 0), 8)} ${pad(fixed(p.p50), 7)} ${pad(fixed(p.p99), 7)} ${pad(String(r.failed), 6)}`
}
const REGISTRATION_HEADER = `${"".padEnd(34)} ${pad("agents", 7)} ${pad("s", 7)} ${pad("per s", 8)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("failed", 6)}`
const relayLine = (label: string, r: Relayed) =>
  `${label.padEnd(34)} ${pad(fixed(r.rate, 0), 7)} ${pad(fixed(r.p50, 2), 7)} ${pad(fixed(r.p99, 2), 7)} ${pad(`${fixed(r.idleShare * 100)}%`, 7)} ${pad(fixed(r.grossUs), 8)} ${pad(fixed(r.netUs), 8)}${r.errors > 0 ? `  ${r.errors} unmatched` : ""}`
const RELAY_HEADER = `${"".padEnd(34)} ${pad("msgs/s", 7)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("idle", 7)} ${pad("gross µs", 8)} ${pad("net µs", 8)}`

// ---------------------------------------------------------------------------
// One node
// ---------------------------------------------------------------------------

const rawServer = () => start("raw ws", "server-raw.ts", ["plain"], ["--expose-gc", "--max-semi-space-size=16"])
const gatewayServer = (agents: number, extra: Record<string, unknown> = {}) =>
  start("gateway", GATEWAY_SCRIPT, gatewayArgs({ ...scaleConfig(agents), ...extra }), ["--expose-gc"])

/** Idle agents on one server: baseline at 50, `stages` counts, RSS per agent at each. */
const idleServer = async (
  kind: "gateway" | "raw",
  server: Child,
  url: string,
  stages: ReadonlyArray<number>,
  atStage: (agents: number, gens: Generators) => Promise<void>
) => {
  const total = stages.at(-1)!
  const gens = await generators(kind, [url], total)
  try {
    // Every registered agent heartbeats at the default interval from the start, as a client does.
    if (kind === "gateway") await gens.all(`heartbeat ${HEARTBEAT_MS}`, "heartbeat")
    await gens.connect(50)
    const baseline = await rssAfterGc(server)
    const registrations: Array<{ count: number; failed: number; ms: number; samples: Array<number> }> = []
    const memory: Array<{ agents: number; rssKiB: number; perAgentKiB: number }> = []
    for (const stage of stages) {
      const connected = await gens.connect(stage)
      registrations.push(connected)
      const stats = await gens.all("stats", "stats")
      const open = stats.reduce((sum, s) => sum + (s.open as number), 0)
      const rss = await rssAfterGc(server)
      memory.push({ agents: open, rssKiB: rss, perAgentKiB: (rss - baseline) / (open - 50) })
      console.log(`  ${kind}: ${open} agents open, RSS ${fixed(rss / 1024)} MiB`)
      await atStage(open, gens)
    }
    return { gens, baseline, registrations, memory }
  } catch (error) {
    await gens.stop()
    throw error
  }
}

const nodePart = async () => {
  const hard = nofileHard()
  const agents = Math.min(AGENTS, hard - FD_MARGIN - 2 * RELAY_PAIRS)
  console.log(`\none node: ${AGENTS} agents asked; open files hard limit ${hard} per process${agents < AGENTS ? `: cut to ${agents} agents (a process cannot hold more sockets; raising the hard limit needs CAP_SYS_RESOURCE)` : ""}`)
  console.log(`gateway: npm start's node flags, in memory, default settings except per-source-address limits; heartbeat every ${HEARTBEAT_MS} ms (${process.env.SCALE_BENCH_SIGNED_PING === "1" ? "signed PING/PONG" : "heartbeat frames"})`)
  console.log(`generators: ${Math.ceil(agents / PER_GENERATOR)} processes of ≤ ${PER_GENERATOR} agents, each from its own 127.0.1.x address, ${CONCURRENCY} connects in flight each`)
  const stages = agents > 10_000 ? [10_000, agents] : [agents]

  // --- raw ws baseline ---
  const raw = rawServer()
  let rawResult
  try {
    const { url } = await raw.next("listening", 30_000)
    const idleCpu: Array<number> = []
    const run = await idleServer("raw", raw, url as string, stages, async () => void idleCpu.push(await cpuShare([raw.pid], 5000)))
    await run.gens.stop()
    rawResult = { ...run, idleCpu }
  } finally {
    await raw.stop()
  }

  // --- our gateway ---
  const gateway = gatewayServer(agents)
  let gatewayResult
  let storm
  try {
    const listening = await gateway.next("listening", 30_000)
    const url = listening.url as string
    const idleCpu: Array<number> = []
    const relays: Array<{ agents: number; relay: Relayed }> = []
    const run = await idleServer("gateway", gateway, url, stages, async (open) => {
      // A whole heartbeat interval first, so every agent's phase has come round.
      await sleep(HEARTBEAT_MS)
      idleCpu.push(await cpuShare([gateway.pid], IDLE_WINDOW_MS))
      console.log(`  gateway: idle CPU at ${open} agents ${fixed(idleCpu.at(-1)! * 100)}%`)
      relays.push({ agents: open, relay: await pacedRelay([url], [gateway.pid], idleCpu.at(-1)!) })
    })
    gatewayResult = { ...run, idleCpu, relays }

    // --- restart: SIGKILL, start again on the same port, every agent reconnects ---
    await run.gens.all(`reconnect ${JSON.stringify([url])}`, "reconnect")
    gateway.process.kill("SIGKILL")
    const killedAt = performance.now()
    await sleep(200)
    const port = Number(new URL(url).port)
    const again = gatewayServer(agents, { port })
    try {
      await again.next("listening", 60_000)
      const startedMs = performance.now() - killedAt
      const back = await Promise.all(run.gens.children.map((child) => child.next("back", 900_000)))
      const allMs = performance.now() - killedAt
      storm = {
        startedMs,
        allMs,
        agents: back.reduce((sum, b) => sum + (b.agents as number), 0),
        failed: back.reduce((sum, b) => sum + (b.failedReconnects as number), 0),
        ...percentiles(back.flatMap((b) => b.samples as Array<number>))
      }
    } finally {
      await run.gens.stop()
      await again.stop()
    }
  } finally {
    await gateway.stop()
  }

  // --- report ---
  console.log(`\nregistration (gateway: CHALLENGE, signed REGISTER, REGISTERED; raw ws: open + hello), per stage`)
  console.log(REGISTRATION_HEADER)
  gatewayResult.registrations.forEach((r, i) => console.log(registrationLine(`gateway, to ${stages[i]}`, r)))
  rawResult.registrations.forEach((r, i) => console.log(registrationLine(`raw ws, to ${stages[i]}`, r)))
  const allOf = (rs: typeof gatewayResult.registrations) => ({
    count: rs.reduce((s, r) => s + r.count, 0),
    failed: rs.reduce((s, r) => s + r.failed, 0),
    ms: rs.reduce((s, r) => s + r.ms, 0),
    samples: rs.flatMap((r) => r.samples)
  })
  const g = allOf(gatewayResult.registrations)
  const r = allOf(rawResult.registrations)
  console.log(registrationLine("gateway, all", g))
  console.log(registrationLine("raw ws, all", r))
  console.log(`gateway / raw ws: rate ${fixed((g.count / g.ms) / (r.count / r.ms), 2)}×, p99 ${fixed(percentiles(g.samples).p99 / percentiles(r.samples).p99, 2)}×`)

  console.log(`\nmemory (RSS after a forced GC; per agent = growth from 50 agents; both with --max-semi-space-size=16)`)
  gatewayResult.memory.forEach((m, i) => {
    const rm = rawResult.memory[i]!
    const ratio = m.perAgentKiB / rm.perAgentKiB
    console.log(`  ${m.agents} agents: gateway ${fixed(m.rssKiB / 1024)} MiB, ${fixed(m.perAgentKiB)} KiB/agent; raw ws ${fixed(rm.rssKiB / 1024)} MiB, ${fixed(rm.perAgentKiB)} KiB/agent; ${fixed(ratio, 2)}× (goal ≤ 2×: ${ratio <= 2 ? "MET" : "NOT MET"})`)
  })

  console.log(`\nidle CPU (share of one core; gateway over ${IDLE_WINDOW_MS / 1000} s with every agent heartbeating every ${HEARTBEAT_MS / 1000} s; raw ws over 5 s, no heartbeats)`)
  gatewayResult.memory.forEach((m, i) => {
    const share = gatewayResult.idleCpu[i]!
    console.log(`  ${m.agents} agents: gateway ${fixed(share * 100)}% (goal at 50,000 ≤ 5%), ${fixed((share * 1e6) / (m.agents / (HEARTBEAT_MS / 1000)), 0)} µs per heartbeat; raw ws ${fixed(rawResult.idleCpu[i]! * 100)}%`)
  })

  console.log(`\nrelay: ${RELAY_PAIRS} pairs sending ${PACED_RATE} signed ~600-byte OFFERs per second in all while the rest idle (gross: all gateway CPU in the window / messages; net: less the idle CPU measured above)`)
  console.log(RELAY_HEADER)
  for (const { agents: count, relay } of gatewayResult.relays) console.log(relayLine(`gateway, ${count} agents`, relay))
  if (gatewayResult.relays.length > 1) {
    const [small, large] = [gatewayResult.relays[0]!.relay, gatewayResult.relays.at(-1)!.relay]
    const ratio = large.netUs / small.netUs
    console.log(`per-message cost ${gatewayResult.relays.at(-1)!.agents} / ${gatewayResult.relays[0]!.agents} agents: net ${fixed(ratio, 2)}× (goal ≤ 1.2×: ${ratio <= 1.2 ? "MET" : "NOT MET"}), gross ${fixed(large.grossUs / small.grossUs, 2)}×; p99 ${fixed(large.p99 / small.p99, 2)}×`)
  }

  if (storm !== undefined) {
    console.log(`\nrestart: gateway SIGKILLed with ${storm.agents} agents, started again on the same port (listening after ${fixed(storm.startedMs / 1000)} s); agents reconnect with the client's backoff`)
    console.log(`  all ${storm.agents} back (registered) ${fixed(storm.allMs / 1000)} s after the kill; per agent close → REGISTERED p50 ${fixed(storm.p50 / 1000, 2)} s, p99 ${fixed(storm.p99 / 1000, 2)} s, max ${fixed(storm.max / 1000, 2)} s; ${storm.failed} failed attempts retried`)
  }
}

// ---------------------------------------------------------------------------
// Cluster
// ---------------------------------------------------------------------------

/** Calls per command from a redis-server's INFO commandstats. */
const commandStats = (port: number): Map<string, number> => {
  const info = execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "INFO", "commandstats"], { encoding: "utf8" })
  const calls = new Map<string, number>()
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls.set(match[1]!, Number(match[2]))
  return calls
}

const clusterPart = async () => {
  const hard = nofileHard()
  const perNode = Math.min(CLUSTER_AGENTS, hard - FD_MARGIN - 2 * RELAY_PAIRS)
  console.log(`\ncluster: 3 gateway nodes (npm start's flags, default settings except per-address limits) on one redis-server, ${perNode} agents on each (${3 * perNode} in all)`)
  const scope = Effect.runSync(Scope.make())
  try {
    const redis = await Effect.runPromise(Scope.provide(RedisServer.start(), scope))
    const redisPort = redis.port
    const profile = CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`]
    const nodeArgs = (extra: Record<string, unknown> = {}) =>
      gatewayArgs({ ...scaleConfig(2 * perNode), redisUrl: Redacted.value(redis.url), ...extra })
    const nodes = [0, 1, 2].map((i) => start(`node ${i + 1}`, GATEWAY_SCRIPT, nodeArgs(), profile))
    const gensOf: Array<Generators> = []
    try {
      const urls = await Promise.all(nodes.map(async (node) => (await node.next("listening", 60_000)).url as string))
      if (profile.length > 0) console.log(`  profiling nodes: pids ${nodes.map((node) => node.pid).join(", ")}`)
      for (const url of urls) gensOf.push(await generators("gateway", [url], perNode))
      await Promise.all(gensOf.map((gens) => gens.all(`heartbeat ${HEARTBEAT_MS}`, "heartbeat")))
      const registered = await Promise.all(gensOf.map((gens) => gens.connect(perNode)))
      const g = registered.map((r) => ({ ...r, ...percentiles(r.samples) }))
      console.log(`  registered per node: ${g.map((r) => `${r.count} in ${fixed(r.ms / 1000)} s (p50 ${fixed(r.p50, 0)} ms, p99 ${fixed(r.p99, 0)} ms, ${r.failed} failed)`).join("; ")}`)

      // --- Redis commands per agent while idle ---
      await sleep(HEARTBEAT_MS)
      const openAgents = async () => (await Promise.all(gensOf.map((gens) => gens.all("stats", "stats")))).flat().reduce((sum, s) => sum + (s.open as number), 0)
      const total = await openAgents()
      const windowMs = 3 * HEARTBEAT_MS
      const before = commandStats(redisPort)
      const pids = [...nodes.map((node) => node.pid), redis.pid]
      const idleCpu = await cpuShare(pids, windowMs)
      const after = commandStats(redisPort)
      const totalEnd = await openAgents()
      const deltas = [...after].map(([name, calls]) => [name, (calls - (before.get(name) ?? 0)) / (windowMs / 1000)] as const)
        .filter(([, perSecond]) => perSecond > 0).sort((a, b) => b[1] - a[1])
      const opsPerSecond = deltas.reduce((sum, [, perSecond]) => sum + perSecond, 0)

      // --- relay: same node vs across nodes ---
      const sameNode = await pacedRelay([urls[0]!], pids, idleCpu)
      const crossNode = await pacedRelay([urls[0]!, urls[1]!], pids, idleCpu)

      // --- node 3 killed: its agents reconnect to nodes 1 and 2 ---
      await gensOf[2]!.all(`reconnect ${JSON.stringify([urls[0], urls[1]])}`, "reconnect")
      nodes[2]!.process.kill("SIGKILL")
      const killedAt = performance.now()
      const back = await Promise.all(gensOf[2]!.children.map((child) => child.next("back", 900_000)))
      const allMs = performance.now() - killedAt
      const moved = back.reduce((sum, b) => sum + (b.agents as number), 0)
      const storm = percentiles(back.flatMap((b) => b.samples as Array<number>))

      console.log(`\nRedis while idle (${windowMs / 1000} s window, INFO commandstats; ${total} agents open at its start, ${totalEnd} at its end): ${fixed(opsPerSecond, 0)} commands/s for ${total} agents = ${fixed(opsPerSecond / total, 4)} per agent per second`)
      console.log(`  ${deltas.map(([name, perSecond]) => `${name} ${fixed(perSecond, 1)}/s`).join(", ")}`)
      console.log(`  CPU of the 3 nodes + redis-server while idle: ${fixed(idleCpu * 100)}% of one core`)
      console.log(`\nrelay at ${PACED_RATE} msgs/s, ${RELAY_PAIRS} pairs (CPU of the 3 nodes + redis-server per message; net: less their idle CPU measured above)`)
      console.log(RELAY_HEADER)
      console.log(relayLine("same node", sameNode))
      console.log(relayLine("across nodes", crossNode))
      const ratio = crossNode.netUs / sameNode.netUs
      console.log(`across / same node: net CPU per message ${fixed(ratio, 2)}× (goal ≤ 1.3×: ${ratio <= 1.3 ? "MET" : "NOT MET"}), gross ${fixed(crossNode.grossUs / sameNode.grossUs, 2)}×; p99 ${fixed(crossNode.p99 / sameNode.p99, 2)}×`)
      console.log(`\nnode 3 SIGKILLed: its ${moved} agents reconnected to nodes 1 and 2 (client backoff), all registered again ${fixed(allMs / 1000)} s after the kill; per agent p50 ${fixed(storm.p50 / 1000, 2)} s, p99 ${fixed(storm.p99 / 1000, 2)} s, max ${fixed(storm.max / 1000, 2)} s`)
    } finally {
      for (const gens of gensOf) await gens.stop()
      await Promise.all(nodes.map((node) => node.stop()))
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const main = async () => {
  const began = performance.now()
  console.log("scale: every server and generator in its own process on this machine (shared; absolute numbers are noisy, read the ratios)")
  try {
    if (PARTS.has("node")) await nodePart()
    if (PARTS.has("cluster")) await clusterPart()
  } finally {
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
    console.log(`\nscale bench took ${fixed((performance.now() - began) / 1000, 0)} s`)
  }
}
