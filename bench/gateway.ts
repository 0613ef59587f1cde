/**
 * Gateway benchmark (`npm run bench -- gateway`): relay throughput, latency and server CPU per
 * message of our gateway beside a raw `ws` relay, the same relay decoding envelopes with our
 * Schemas (the floor for doing the checks at all) and PeerJS's server, all in one run (and the
 * gateway with its signature checks kept on the main thread, (a0), against its `VerifyPool`); then
 * memory per idle agent, and the latency of an honest pair while others flood the gateway.
 *
 * Every server and every load generator runs in a child process of its own (on 127.0.0.1); the
 * parent reads the server's CPU time and RSS from /proc. Gateway processes run with the node
 * flags of `npm start` (a capped young generation); the baselines with node's defaults, and the
 * memory part also runs the raw relay with the gateway's flags. Absolute numbers on a small shared
 * machine are noisy: the ratios within one run are what to read. Each relay window also reports the
 * server's CPU per message by thread (main, each verify thread, the rest: V8's platform threads and
 * libuv, from /proc/<pid>/task), the load generator's CPU per message, and the machine's busy, idle
 * and steal cores (/proc/stat): how much of the machine others held, and whether a core sat idle.
 *
 * Environment: GATEWAY_BENCH_PAIRS (50), GATEWAY_BENCH_WINDOW (8), GATEWAY_BENCH_SECONDS (5),
 * GATEWAY_BENCH_AGENTS (10000, the largest idle count), GATEWAY_BENCH_MEMORY_RUNS (5),
 * GATEWAY_BENCH_CPU_PROF=<dir> (profile the server processes during their relay runs, the
 * flood and the cluster nodes with --cpu-prof; summarise with `npx node bench/gateway/profile.ts <dir>/<file>.cpuprofile`;
 * the pid of each is printed; `npx node bench/gateway/hotpath.ts` measures the session's own
 * per-frame CPU in one process, without sockets), GATEWAY_BENCH_PARTS (relay,memory,flood,cluster: which parts to run;
 * cluster needs `redis-server`: two nodes, the same load with each pair on node 1, across the
 * nodes, and each pair on one node with the pairs spread over both; CPU per message per process
 * and PUBLISHes per message; `idle` is not run unless named: idle agents that heartbeat, see
 * below), GATEWAY_BENCH_SERVER_FLAGS (extra node flags for the relay
 * servers, e.g. "--trace-gc"), GATEWAY_BENCH_PACED_RATE (4000), GATEWAY_BENCH_PACED_SECONDS (3), GATEWAY_BENCH_RELAY_ORDER (a,a0,b,c,d,dv,e: which
 * relay servers run, in this order; (a) verifies with the default `VerifyPool` (threads once the main thread is
 * busy), (a0) on the main thread alone, (a1) and (a2), only when asked for: one thread, always on the threads;
 * (dv) is the floor (d) that also verifies each frame's signature with node:crypto in place, at the load's pace,
 * the fair "floor + verify" beside the one that adds a verify timed in a tight loop).
 *
 * The `idle` part (`GATEWAY_BENCH_PARTS=idle`): N registered agents that only heartbeat at the
 * default interval, the gateway's CPU% over a window and RSS per agent, beside a raw `ws` server
 * holding N connections that exchange the same tiny frame each interval. Environment:
 * GATEWAY_BENCH_IDLE_AGENTS (10000; a comma-separated list runs each count), GATEWAY_BENCH_HEARTBEAT_MS
 * (the default `heartbeatIntervalMs`, 45000), GATEWAY_BENCH_IDLE_WINDOW (seconds; 40 or one interval if longer),
 * GATEWAY_BENCH_IDLE_SERVERS (frame,ping,none,raw: which servers to run). Each process holds one file
 * descriptor per agent: N must stay under `ulimit -n` (20,000 on the machine this was written on).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"
import { Effect, Exit, Redacted, Scope } from "effect"
import * as RedisServer from "../test/gateway/redisServer.ts"
import { startNodeFlags } from "../test/processes.ts"
import { availableParallelism } from "node:os"
import * as GatewayConfig from "../src/gateway/GatewayConfig.ts"
import * as VerifyPool from "../src/gateway/VerifyPool.ts"
import * as Verify from "./gateway/verify.ts"

const here = join(dirname(fileURLToPath(import.meta.url)), "gateway")
const env = (name: string, fallback: number) => {
  const value = Number(process.env[name])
  return Number.isFinite(value) && value > 0 ? value : fallback
}
const PAIRS = env("GATEWAY_BENCH_PAIRS", 50)
const WINDOW = env("GATEWAY_BENCH_WINDOW", 8)
const WARMUP_MS = 1000
// The second, paced phase: this many messages per second in all, for PACED_MS (consecutive 3 s
// windows of the same server differed by ~6 µs/msg on the quiet machine: a longer one is steadier).
const PACED_RATE = env("GATEWAY_BENCH_PACED_RATE", 4000)
const PACED_MS = env("GATEWAY_BENCH_PACED_SECONDS", 3) * 1000
// The relay rate pre-signed envelopes are provisioned for (verify-on servers: `VERIFY_ON_PRESIGN_RATE`, well over
// what two cores verify, so signing 600,000 envelopes before each of their runs is not needed).
// (The gateway with verification off relays up to ~70,000 msgs/s here; once the envelopes run out, the load
// generator signs live and competes with the server for the CPU.)
const PRESIGN_RATE = 100_000
const VERIFY_ON_PRESIGN_RATE = 40_000
const DURATION_MS = env("GATEWAY_BENCH_SECONDS", 5) * 1000
const MAX_AGENTS = env("GATEWAY_BENCH_AGENTS", 10_000)
// Independent runs of each server in the memory part: RSS growth at 1,000 agents swings by
// megabytes with one-time costs (JIT compilation memory, allocator high-water), so it reports the median.
const MEMORY_RUNS = env("GATEWAY_BENCH_MEMORY_RUNS", 5)
const CPU_PROF_DIR = process.env.GATEWAY_BENCH_CPU_PROF
const SERVER_FLAGS = (process.env.GATEWAY_BENCH_SERVER_FLAGS ?? "").split(" ").filter((flag) => flag !== "")
// The relay servers, in the order they run (GATEWAY_BENCH_RELAY_ORDER, e.g. "a0,a,b,c,d,e" to start with another).
type RelayKey = "a" | "a0" | "a1" | "a2" | "b" | "c" | "d" | "dv" | "e"
const RELAY_ORDER = (process.env.GATEWAY_BENCH_RELAY_ORDER ?? "a,a0,b,c,d,dv,e").split(",").map((key) => key.trim()) as Array<RelayKey>
const PARTS = new Set((process.env.GATEWAY_BENCH_PARTS ?? "relay,memory,flood,cluster").split(",").map((part) => part.trim()))
// Milliseconds the largest idle stage of one server may take (estimated from the 1,000 stage) before it is cut down.
const IDLE_BUDGET_MS = 50_000
const HUGE = { perSecond: 1e9, burst: 1e9 }
const IDLE_AGENTS = (process.env.GATEWAY_BENCH_IDLE_AGENTS ?? "10000").split(",").map(Number).filter((n) => n > 0)
const HEARTBEAT_MS = env("GATEWAY_BENCH_HEARTBEAT_MS", GatewayConfig.defaults.heartbeatIntervalMs)
// At least one interval, so every agent's heartbeat falls into the window.
const IDLE_WINDOW_MS = env("GATEWAY_BENCH_IDLE_WINDOW", Math.max(40, HEARTBEAT_MS / 1000)) * 1000
const IDLE_SERVERS = new Set((process.env.GATEWAY_BENCH_IDLE_SERVERS ?? "frame,ping,none,raw").split(",").map((s) => s.trim()))

// ---------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------

type Event = Record<string, unknown> & { readonly event: string }

export interface Child {
  readonly name: string
  readonly process: ChildProcess
  readonly pid: number
  /** The next event named `event` (earlier ones of other names stay queued). */
  readonly next: (event: string, timeoutMs: number) => Promise<Event>
  readonly send: (line: string) => void
  /** Asks it to exit, then kills it if it has not within 3 s. */
  readonly stop: () => Promise<void>
}

const children = new Set<ChildProcess>()
const killAll = () => {
  for (const child of children) child.kill("SIGKILL")
}
process.on("exit", killAll)

/**
 * The node flags of package.json's `start` script (a capped young generation): every gateway
 * process here runs with them, so the benchmark measures the gateway as `npm start` runs it.
 * Baselines run with node's defaults unless a part says otherwise.
 */
const GATEWAY_NODE_FLAGS = startNodeFlags()

/** The script of every gateway process (the one that gets `GATEWAY_NODE_FLAGS`). */
export const GATEWAY_SCRIPT = "server-gateway.ts"

export const start = (
  name: string,
  script: string,
  args: ReadonlyArray<string>,
  execArgv: ReadonlyArray<string> = [],
  /** A command that runs node (e.g. `ip netns exec NAME`). */
  wrapper: ReadonlyArray<string> = []
): Child => {
  const nodeFlags = script === GATEWAY_SCRIPT ? [...GATEWAY_NODE_FLAGS, ...execArgv] : execArgv
  const command = [...wrapper, process.execPath, ...nodeFlags, join(here, script), ...args]
  const child = spawn(command[0]!, command.slice(1), { stdio: ["pipe", "pipe", "inherit"] })
  if (child.pid === undefined) throw new Error(`could not start ${name}`)
  children.add(child)
  const events: Array<Event> = []
  const waiters = new Set<() => void>()
  let exited: string | undefined
  const wake = () => {
    for (const waiter of waiters) waiter()
  }
  child.on("exit", (code, signal) => {
    children.delete(child)
    exited = `${name} exited (${signal ?? code})`
    wake()
  })
  child.stdin!.on("error", () => undefined)
  createInterface({ input: child.stdout! }).on("line", (line) => {
    try {
      events.push(JSON.parse(line) as Event)
    } catch {
      console.error(`[${name}] ${line}`)
    }
    wake()
  })
  const next = (event: string, timeoutMs: number) =>
    new Promise<Event>((resolve, reject) => {
      const check = () => {
        const index = events.findIndex((e) => e.event === event)
        if (index >= 0) {
          done()
          resolve(events.splice(index, 1)[0]!)
        } else if (exited !== undefined) {
          done()
          reject(new Error(`${exited} before sending ${event}`))
        }
      }
      const timer = setTimeout(() => {
        done()
        reject(new Error(`${name}: no ${event} within ${timeoutMs} ms`))
      }, timeoutMs)
      const done = () => {
        clearTimeout(timer)
        waiters.delete(check)
      }
      waiters.add(check)
      check()
    })
  return {
    name,
    process: child,
    pid: child.pid,
    next,
    send: (line) => {
      if (exited === undefined) child.stdin!.write(`${line}\n`)
    },
    stop: () =>
      new Promise<void>((resolve) => {
        if (exited !== undefined) return resolve()
        const timer = setTimeout(() => child.kill("SIGKILL"), 3000)
        child.once("exit", () => {
          clearTimeout(timer)
          resolve()
        })
        child.stdin!.write("exit\n")
      })
  }
}

/** CPU time (user + system) in microseconds from a /proc stat file. */
const statCpuUs = (file: string): number => {
  const stat = readFileSync(file, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / CLOCK_TICKS
}
/** CPU time of a process (all threads) in microseconds, from /proc. */
export const cpuUs = (pid: number): number => statCpuUs(`/proc/${pid}/stat`)
/** CPU time of a process's main thread (where all JavaScript runs; GC helpers and libuv are other threads). */
const mainThreadCpuUs = (pid: number): number => statCpuUs(`/proc/${pid}/task/${pid}/stat`)
const CLOCK_TICKS = 100

/** The name the gateway's `VerifyPool` gives its threads, as Linux keeps it (15 bytes). */
const VERIFY_THREAD = "aiconexus-verif"

/** CPU time (µs) of each thread of a process by thread id, with its name; threads that ended are gone. */
const threadsCpuUs = (pid: number): Map<string, { readonly name: string; readonly us: number }> => {
  const threads = new Map<string, { name: string; us: number }>()
  let tasks: Array<string> = []
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return threads
  }
  for (const task of tasks) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${task}/comm`, "utf8").trim()
      threads.set(task, { name, us: statCpuUs(`/proc/${pid}/task/${task}/stat`) })
    } catch {
      // the thread ended while listing
    }
  }
  return threads
}

/** CPU of a process's threads over a window, µs: the main thread, each verify thread, and the rest (GC helpers, libuv). */
interface ThreadSplit {
  readonly main: number
  readonly verify: ReadonlyArray<number>
  readonly other: number
}
const threadSplit = (pid: number, before: ReturnType<typeof threadsCpuUs>, after: ReturnType<typeof threadsCpuUs>): ThreadSplit => {
  let main = 0
  let other = 0
  const verify: Array<number> = []
  for (const [tid, { name, us }] of after) {
    const spent = us - (before.get(tid)?.us ?? 0)
    if (tid === String(pid)) main += spent
    else if (name === VERIFY_THREAD) verify.push(spent)
    else other += spent
  }
  return { main, verify, other }
}

/** The machine's CPU counters (/proc/stat, all cores), µs: busy, idle (with iowait) and steal (time the hypervisor gave the cores to others). */
const machineCpuUs = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number)
  const [user, nice, system, idle, iowait, irq, softirq, steal] = fields as [number, number, number, number, number, number, number, number]
  const us = (ticks: number) => (ticks * 1e6) / CLOCK_TICKS
  return { busy: us(user + nice + system + irq + softirq), idle: us(idle + iowait), steal: us(steal) }
}

/** Resident memory of a process in KiB, from /proc. */
export const rssKiB = (pid: number): number => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? Number.NaN)

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

export const dataDirs: Array<string> = []
export const gatewayArgs = (overrides: Record<string, unknown>) => {
  const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-bench-"))
  dataDirs.push(dataDir)
  return [JSON.stringify({ dataDir, ...overrides })]
}
/** Limits out of the way of a throughput run. */
const unlimited = {
  sessionRate: HUGE,
  destinationRate: HUGE,
  discoverRate: HUGE,
  handshakeRatePerIp: HUGE,
  maxConnectionsPerIp: 1e6,
  maxSessions: 1e6,
  maxReplayRecords: 1e7,
  maxRejectedFrames: 1e6,
  maxRejectedBytes: 1e12,
  maxOutboundBufferBytes: 64 * 1024 * 1024,
  // The load generator registers its agents, then signs every envelope before the run: on a
  // loaded machine that can take longer than the default 60 s skew and session timeout, and the
  // gateway would refuse the envelopes as stale or close the silent sessions.
  skewMs: 3_600_000,
  sessionTimeoutMs: 3_600_000
}

interface ServerSpec {
  readonly label: string
  readonly script: string
  readonly args: () => ReadonlyArray<string>
  readonly kind: "gateway" | "raw" | "peer"
  /** The relay rate its load generator presigns envelopes for (msgs/s; `PRESIGN_RATE` unless lower). */
  readonly presignRate?: number
  /** A raw server that checks signatures: its load generator sends presigned envelopes, as to the gateway. */
  readonly signed?: boolean
}
const servers: Record<RelayKey, ServerSpec> = {
  a: { label: "(a) gateway, verify on", script: GATEWAY_SCRIPT, args: () => gatewayArgs(unlimited), kind: "gateway", presignRate: VERIFY_ON_PRESIGN_RATE },
  a0: {
    label: "(a0) verify on, no threads",
    script: GATEWAY_SCRIPT,
    args: () => gatewayArgs({ ...unlimited, verifyWorkers: 0 }),
    kind: "gateway",
    presignRate: VERIFY_ON_PRESIGN_RATE
  },
  a1: {
    label: "(a1) verify on, 1 thread",
    script: GATEWAY_SCRIPT,
    args: () => gatewayArgs({ ...unlimited, verifyWorkers: 1 }),
    kind: "gateway",
    presignRate: VERIFY_ON_PRESIGN_RATE
  },
  a2: {
    label: "(a2) verify on, always threads",
    script: GATEWAY_SCRIPT,
    args: () => gatewayArgs({ ...unlimited, verifyOffload: "always" }),
    kind: "gateway",
    presignRate: VERIFY_ON_PRESIGN_RATE
  },
  b: {
    label: "(b) gateway, verify off",
    script: GATEWAY_SCRIPT,
    args: () => gatewayArgs({ ...unlimited, verifyRelaySignatures: false }),
    kind: "gateway"
  },
  c: { label: "(c) raw ws relay", script: "server-raw.ts", args: () => ["plain"], kind: "raw" },
  d: { label: "(d) raw + JSON.parse + Schemas", script: "server-raw.ts", args: () => ["schema"], kind: "raw" },
  dv: {
    label: "(dv) (d) + node:crypto verify",
    script: "server-raw.ts",
    args: () => ["verify"],
    kind: "raw",
    signed: true,
    presignRate: VERIFY_ON_PRESIGN_RATE
  },
  e: { label: "(e) PeerJS server", script: "server-peer.ts", args: () => [], kind: "peer" }
}

// ---------------------------------------------------------------------------
// 1–3. Relay throughput
// ---------------------------------------------------------------------------

interface Measured {
  readonly rate: number
  readonly p50: number
  readonly p99: number
  readonly cpuPerMsg: number
  readonly mainPerMsg: number
  readonly serverCpu: number
  readonly generatorCpu: number
  /** CPU per message of each of the measured processes (µs), in the order of their pids. */
  readonly perPid: ReadonlyArray<number>
  /** What `probe` counted over the window, per message (the cluster part: PUBLISHes). */
  readonly probedPerMsg: number
  /** The first server's CPU per message by thread (µs). */
  readonly threads: ThreadSplit
  /** The load generator's CPU per message (µs, all its threads, from /proc). */
  readonly generatorPerMsg: number
  /** The whole machine over the window, in cores: busy (every process), idle, and steal. */
  readonly machine: { readonly busy: number; readonly idle: number; readonly steal: number }
}
interface RelayResult {
  readonly label: string
  /** The closed loop: every agent keeps WINDOW messages in flight (the server saturated). */
  readonly saturated: Measured
  /** PACED_RATE messages per second, below every server's capacity. */
  readonly paced: Measured
  readonly errors: number
  readonly liveSigned: number
  readonly frameBytes: number
}

/** Runs the relay load (`urls`: one server, or cluster nodes round-robin) against servers whose CPU is `pids`'. */
const runLoad = async (
  label: string,
  urls: ReadonlyArray<string>,
  kind: ServerSpec["kind"],
  pids: ReadonlyArray<number>,
  /** A count read at the start and end of each window (e.g. Redis PUBLISHes). */
  probe: () => number = () => 0,
  /** With several URLs: the two agents of a pair on different ones ("alternate") or on one ("pairs"). */
  placement: "alternate" | "pairs" = "alternate",
  presignRate = PRESIGN_RATE,
  signed = kind === "gateway"
): Promise<RelayResult> => {
  // Enough signed envelopes per agent for a gateway relaying `presignRate` msgs/s (more are signed live).
  const presign = Math.ceil((presignRate * (WARMUP_MS + DURATION_MS)) / 1000 / (PAIRS * 2))
  const load = start("load", "load.ts", [
    JSON.stringify({
      mode: "relay",
      kind,
      url: urls[0],
      urls,
      placement,
      pairs: PAIRS,
      window: WINDOW,
      warmupMs: WARMUP_MS,
      durationMs: DURATION_MS,
      presign,
      signed,
      pacedRate: PACED_RATE,
      pacedWarmupMs: 500,
      pacedDurationMs: PACED_MS
    })
  ])
  const sum = (measure: (pid: number) => number) => pids.reduce((total, pid) => total + measure(pid), 0)
  try {
    const ready = await load.next("ready", 120_000)
    const measure = async (): Promise<Event & Measured> => {
      await load.next("window-start", 30_000)
      const cpu0 = sum(cpuUs)
      const main0 = sum(mainThreadCpuUs)
      const each0 = pids.map(cpuUs)
      const threads0 = threadsCpuUs(pids[0]!)
      const generator0 = cpuUs(load.pid)
      const machine0 = machineCpuUs()
      const probed0 = probe()
      const end = await load.next("window-end", Math.max(DURATION_MS, PACED_MS) + 30_000)
      const cpu1 = sum(cpuUs)
      const main1 = sum(mainThreadCpuUs)
      const each1 = pids.map(cpuUs)
      const threads1 = threadsCpuUs(pids[0]!)
      const generator1 = cpuUs(load.pid)
      const machine1 = machineCpuUs()
      const probed1 = probe()
      const latency = end.latency as { p50: number; p99: number }
      const received = end.received as number
      const split = threadSplit(pids[0]!, threads0, threads1)
      const windowUs = (end.seconds as number) * 1e6
      return {
        ...end,
        rate: end.rate as number,
        p50: latency.p50,
        p99: latency.p99,
        cpuPerMsg: (cpu1 - cpu0) / (end.received as number),
        mainPerMsg: (main1 - main0) / (end.received as number),
        serverCpu: (cpu1 - cpu0) / 1e6 / (end.seconds as number),
        generatorCpu: end.generatorCpu as number,
        perPid: each1.map((cpu, i) => (cpu - each0[i]!) / (end.received as number)),
        probedPerMsg: (probed1 - probed0) / (end.received as number),
        threads: { main: split.main / received, verify: split.verify.map((us) => us / received), other: split.other / received },
        generatorPerMsg: (generator1 - generator0) / received,
        machine: {
          busy: (machine1.busy - machine0.busy) / windowUs,
          idle: (machine1.idle - machine0.idle) / windowUs,
          steal: (machine1.steal - machine0.steal) / windowUs
        }
      }
    }
    const saturated = await measure()
    const paced = await measure()
    return {
      label,
      saturated,
      paced,
      errors: paced.errors as number,
      liveSigned: paced.liveSigned as number,
      frameBytes: ready.frameBytes as number
    }
  } finally {
    await load.stop()
  }
}

const relayRun = async (spec: ServerSpec, profile: boolean): Promise<RelayResult> => {
  const execArgv = profile && CPU_PROF_DIR !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : []
  const server = start(spec.label, spec.script, spec.args(), [...execArgv, ...SERVER_FLAGS])
  if (execArgv.length > 0) console.log(`  profiling ${spec.label}: pid ${server.pid}, profile in ${CPU_PROF_DIR}`)
  try {
    const { url } = await server.next("listening", 30_000)
    return await runLoad(spec.label, [url as string], spec.kind, [server.pid], undefined, undefined, spec.presignRate, spec.kind === "gateway" || spec.signed === true)
  } finally {
    await server.stop()
  }
}

// ---------------------------------------------------------------------------
// 4. Memory per idle agent
// ---------------------------------------------------------------------------

interface MemoryStage {
  readonly agents: number
  readonly rssKiB: number
  readonly heapKiB: number
  readonly ms: number
}

const memoryRun = async (
  spec: ServerSpec,
  overrides: Record<string, unknown>,
  nodeFlags: ReadonlyArray<string> = []
): Promise<{ stages: Array<MemoryStage>; note?: string }> => {
  const server = start(spec.label, spec.script, spec.kind === "gateway" ? gatewayArgs({ ...unlimited, ...overrides }) : spec.args(), [
    "--expose-gc",
    ...nodeFlags
  ])
  try {
    const { url } = await server.next("listening", 30_000)
    const measure = async (agents: number, ms: number): Promise<MemoryStage> => {
      server.send("gc")
      const gc = await server.next("gc", 30_000)
      await sleep(300)
      return { agents, rssKiB: rssKiB(server.pid), heapKiB: (gc.memory as { heapUsed: number }).heapUsed / 1024, ms }
    }
    // 50 agents first, so the code paths are warm and the baseline holds their fixed costs.
    const first = 50
    const middle = Math.min(1000, MAX_AGENTS)
    const load = start("idle", "load.ts", [JSON.stringify({ mode: "idle", kind: spec.kind, url, concurrency: 64 })])
    const stages: Array<MemoryStage> = []
    let note: string | undefined
    try {
      let target = first
      for (let stageIndex = 0; stageIndex < 3; stageIndex++) {
        load.send(`to ${target}`)
        const stage = await load.next("stage", 240_000)
        const count = stage.count as number
        if (count < target) note = `only ${count} of ${target} agents connected (${stage.failed} failed, ${stage.closed} closed)`
        stages.push(await measure(count, stage.ms as number))
        if (stageIndex === 0) target = middle
        else if (stageIndex === 1 && MAX_AGENTS > middle) {
          // Registering is the slow part: cut the last stage down if it would not fit the budget.
          const perAgentMs = (stage.ms as number) / (middle - first)
          const fits = middle + Math.max(1, Math.floor(IDLE_BUDGET_MS / Math.max(perAgentMs, 1e-3) / 1000)) * 1000
          target = Math.min(MAX_AGENTS, fits)
          if (target < MAX_AGENTS) {
            note = `${MAX_AGENTS} agents would take ~${Math.round((perAgentMs * (MAX_AGENTS - middle)) / 1000)} s to register; did ${target}`
          }
        } else break
      }
    } finally {
      await load.stop()
    }
    return note === undefined ? { stages } : { stages, note }
  } finally {
    await server.stop()
  }
}

// ---------------------------------------------------------------------------
// 5. Flood
// ---------------------------------------------------------------------------

const floodRun = async () => {
  const execArgv = CPU_PROF_DIR !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : []
  const server = start("(a) gateway, default limits", GATEWAY_SCRIPT, gatewayArgs({
    handshakeRatePerIp: HUGE,
    maxConnectionsPerIp: 1e6,
    maxSessions: 1e6
  }), execArgv)
  if (execArgv.length > 0) console.log(`  profiling the flooded gateway: pid ${server.pid}, profile in ${CPU_PROF_DIR}`)
  try {
    const { url } = await server.next("listening", 30_000)
    const honest = start("pingpong", "load.ts", [JSON.stringify({ mode: "pingpong", url, intervalMs: 25, phaseMs: 3000 })])
    try {
      const quiet = await honest.next("phase", 60_000)
      const flood = start("flood", "flood.ts", [JSON.stringify({ url, durationMs: 20_000 })])
      try {
        await flood.next("flooding", 30_000)
        await sleep(500)
        const cpu0 = cpuUs(server.pid)
        const t0 = performance.now()
        honest.send("go")
        const flooded = await honest.next("phase", 30_000)
        const serverCpu = (cpuUs(server.pid) - cpu0) / 1e6 / ((performance.now() - t0) / 1000)
        flood.send("stop")
        const done = await flood.next("flood-done", 10_000)
        return { quiet, flooded, serverCpu, flood: done }
      } finally {
        await flood.stop()
      }
    } finally {
      await honest.stop()
    }
  } finally {
    await server.stop()
  }
}

// ---------------------------------------------------------------------------
// 6. Cluster: two gateway nodes on one redis-server
// ---------------------------------------------------------------------------

/** A redis-server's INFO section. */
const redisInfo = (port: number, section: string): string =>
  execFileSync("redis-cli", ["-h", "127.0.0.1", "-p", String(port), "INFO", section], { encoding: "utf8" })

const clusterRun = async () => {
  const scope = Effect.runSync(Scope.make())
  try {
    const redis = await Effect.runPromise(Scope.provide(RedisServer.start(), scope))
    const redisPid = redis.pid
    const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-bench-"))
    dataDirs.push(dataDir)
    // One identity for both nodes, as in production.
    const nodeArgs = () => gatewayArgs({ ...unlimited, redisUrl: Redacted.value(redis.url), keyFile: join(dataDir, "gateway-identity.json") })
    const execArgv = CPU_PROF_DIR !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`] : []
    const nodes = [start("node 1", GATEWAY_SCRIPT, nodeArgs(), execArgv), start("node 2", GATEWAY_SCRIPT, nodeArgs(), execArgv)]
    try {
      const urls = await Promise.all(nodes.map(async (node) => (await node.next("listening", 30_000)).url as string))
      if (execArgv.length > 0) console.log(`  profiling the cluster nodes: pids ${nodes.map((node) => node.pid).join(", ")}, profiles in ${CPU_PROF_DIR}`)
      const pids = [...nodes.map((node) => node.pid), redisPid]
      const publishes = () => Number(/cmdstat_publish:calls=(\d+)/.exec(redisInfo(redis.port, "commandstats"))?.[1] ?? 0)
      const sameNode = await runLoad("same node", [urls[0]!], "gateway", pids, publishes)
      const crossNode = await runLoad("across nodes", urls, "gateway", pids, publishes)
      const sameNodes = await runLoad("same, 2 nodes", urls, "gateway", pids, publishes, "pairs")
      return { sameNode, crossNode, sameNodes }
    } finally {
      await Promise.all(nodes.map((node) => node.stop()))
    }
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

// ---------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------

const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
const pad = (s: string, n: number) => s.padStart(n)

export const main = async () => {
  const began = performance.now()
  console.log("gateway: relay, memory and flood, every server and load generator in its own process (127.0.0.1)")
  console.log(`relay load: ${PAIRS} pairs (${PAIRS * 2} sockets), window ${WINDOW} per agent, ${WARMUP_MS / 1000} s warm-up + ${DURATION_MS / 1000} s measured`)

  try {
    if (PARTS.has("relay")) await relayPart()
    if (PARTS.has("memory")) await memoryPart()
    if (PARTS.has("flood")) await floodPart()
    if (PARTS.has("cluster")) await clusterPart()
    if (PARTS.has("idle")) await idlePart()
  } finally {
    killAll()
    for (const dir of dataDirs) rmSync(dir, { recursive: true, force: true })
    console.log(`\ngateway bench took ${fixed((performance.now() - began) / 1000, 0)} s`)
  }
}

const relayPart = async () => {
  // --- verification paths (parent process, nothing else running) ---
  const verify = await Verify.measure()
  const verifyUs = verify.costs[0]!.cpuUs
  console.log(`\nEd25519 verification paths, ${verify.signedBytes} signed bytes of a ${verify.frameBytes}-byte OFFER envelope (this process):`)
  console.log(`  ${"path".padEnd(64)} ${pad("wall µs/op", 10)} ${pad("CPU µs/op", 10)} ${pad("main thread", 11)}`)
  for (const cost of verify.costs) {
    console.log(`  ${cost.name.padEnd(64)} ${pad(fixed(cost.wallUs), 10)} ${pad(fixed(cost.cpuUs), 10)} ${pad(fixed(cost.mainUs), 11)}`)
  }

  // --- relay runs ---
  const keys = ["a", "a0", "a1", "a2", "b", "c", "d", "dv", "e"] as const
  const results: Partial<Record<keyof typeof servers, RelayResult>> = {}
  for (const key of RELAY_ORDER) {
    const r = await relayRun(servers[key], true)
    results[key] = r
    console.log(`  ran ${r.label}: ${r.frameBytes}-byte frames, ${fixed(r.saturated.rate, 0)} msgs/s, ${fixed(r.saturated.cpuPerMsg)} µs/msg` +
      (r.errors > 0 ? `, ${r.errors} unmatched frames` : "") + (r.liveSigned > 0 ? `, ${r.liveSigned} envelopes signed during the run` : ""))
  }
  const ran = keys.filter((key) => results[key] !== undefined)
  const table = (title: string, pick: (r: RelayResult) => Measured) => {
    const floor = results.d === undefined ? Number.NaN : pick(results.d).cpuPerMsg
    const floorPlusVerify = floor + verifyUs
    const ratio = (key: RelayKey, to: number) => (results[key] === undefined ? Number.NaN : pick(results[key]).cpuPerMsg / to)
    console.log(`\n${title}`)
    const goalB = ratio("b", floor)
    const goalA = ratio("a", floorPlusVerify)
    const verdict = (ratio: number) => (ratio <= 1.25 ? "met" : "NOT met")
    console.log(`${"server".padEnd(32)} ${pad("msgs/s", 8)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("srv CPU", 8)} ${pad("gen CPU", 8)} ${pad("µs/msg", 7)} ${pad("main", 6)} ${pad("×floor", 7)} ${pad("×(floor+verify)", 15)}  goal`)
    for (const key of ran) {
      const m = pick(results[key]!)
      const plusVerify = key === "a" || key === "a0" || key === "a1" || key === "a2" ? fixed(m.cpuPerMsg / floorPlusVerify, 2) : ""
      const goal = key === "a" ? `≤ 1.25× (floor+verify): ${verdict(goalA)}` : key === "b" ? `≤ 1.25× floor: ${verdict(goalB)}` : ""
      console.log(`${results[key]!.label.padEnd(32)} ${pad(fixed(m.rate, 0), 8)} ${pad(fixed(m.p50, 2), 7)} ${pad(fixed(m.p99, 2), 7)} ${pad(`${fixed(m.serverCpu * 100, 0)}%`, 8)} ${pad(`${fixed(m.generatorCpu * 100, 0)}%`, 8)} ${pad(fixed(m.cpuPerMsg), 7)} ${pad(fixed(m.mainPerMsg), 6)} ${pad(fixed(m.cpuPerMsg / floor, 2), 7)} ${pad(plusVerify, 15)}  ${goal}`)
    }
    console.log("(µs/msg: all threads of the server process; main: its main thread alone, where the JavaScript runs)")
    console.log(`where the CPU went, µs per message (server threads: main, each verify thread, the rest: GC helpers, libuv), and the machine's ${availableParallelism()} cores in the window:`)
    for (const key of ran) {
      const m = pick(results[key]!)
      const { main, other, verify } = m.threads
      const generatorCores = (m.generatorPerMsg * m.rate) / 1e6
      const rest = m.machine.busy - m.serverCpu - generatorCores
      console.log(
        `  ${results[key]!.label.padEnd(32)} main ${fixed(main)}${verify.length > 0 ? `, verify ${verify.map((us) => fixed(us)).join(" + ")}` : ""}, other ${fixed(other)}; ` +
          `generator ${fixed(m.generatorPerMsg)}; cores busy ${fixed(m.machine.busy, 2)} (server ${fixed(m.serverCpu, 2)}, generator ${fixed(generatorCores, 2)}, rest ${fixed(rest, 2)}), idle ${fixed(m.machine.idle, 2)}, steal ${fixed(m.machine.steal, 2)}`
      )
    }
    console.log(`floor (d) = ${fixed(floor)} µs/msg; one node:crypto verify = ${fixed(verifyUs)} µs; floor + verify = ${fixed(floorPlusVerify)} µs/msg`)
    console.log(`goal (b) ≤ 1.25× floor:            ${fixed(goalB, 2)}× ${goalB <= 1.25 ? "MET" : "NOT MET"}`)
    console.log(`goal (a) ≤ 1.25× (floor + verify): ${fixed(goalA, 2)}× ${goalA <= 1.25 ? "MET" : "NOT MET"}`)
    if (results.dv !== undefined) {
      // "floor + verify" above adds a verify timed in a tight loop (warm caches); (dv) verifies each frame at the load's own pace, after its socket work.
      const dv = pick(results.dv).cpuPerMsg
      const against = (["a", "a0", "a1", "a2"] as const).filter((key) => results[key] !== undefined).map((key) => `${key} ${fixed(ratio(key, dv), 2)}×`)
      console.log(`beside (dv), the floor verifying each frame in place at the same pace (${fixed(dv)} µs/msg, ${fixed(dv - floor)} µs over the floor): ${against.join(", ")}`)
    }
    if (results.c !== undefined) {
      const raw = pick(results.c).cpuPerMsg
      console.log(`(a) is ${fixed(ratio("a", raw), 2)}× the raw relay (c) per message; PeerJS (e) is ${fixed(ratio("e", raw), 2)}× it`)
    }
  }
  table(
    `relay of ~${(results.a ?? results.a0 ?? results.b ?? Object.values(results)[0])?.frameBytes}-byte OFFERs, saturated: ${WINDOW} in flight per agent; CPU = server process user+system in the window / messages relayed`,
    (r) => r.saturated
  )
  table(`the same servers at a fixed ${PACED_RATE} msgs/s (below each one's capacity: per-message cost at equal load, latency without queueing)`, (r) => r.paced)
  if (results.a !== undefined && results.a0 !== undefined) {
    const [a, a0] = [results.a.saturated, results.a0.saturated]
    const speedup = a.rate / a0.rate
    const cost = a.cpuPerMsg / a0.cpuPerMsg
    console.log(`\nverify threads: (a) ${VerifyPool.defaultSize()} verify worker threads (the default on this machine's ${availableParallelism()} cores) vs (a0) every check on the main thread; the load generator shares the same cores`)
    console.log(`goal saturated msgs/s (a) / (a0) ≥ 1.7×: ${fixed(speedup, 2)}× ${speedup >= 1.7 ? "MET" : "NOT MET"}; CPU per message (a) / (a0) ≤ 1.10×: ${fixed(cost, 2)}× ${cost <= 1.1 ? "MET" : "NOT MET"}`)
    console.log(`at ${PACED_RATE} msgs/s: CPU per message (a) / (a0) ${fixed(results.a.paced.cpuPerMsg / results.a0.paced.cpuPerMsg, 2)}×, p50 ${fixed(results.a.paced.p50, 2)} vs ${fixed(results.a0.paced.p50, 2)} ms`)
    // What (a) could relay if the server and its load generator had every core to themselves at their CPU per message,
    // against (a0): how far the ratio is held by the machine (cores used by others, idle) or by the cost per message.
    const ceiling = (availableParallelism() * 1e6) / (a.cpuPerMsg + a.generatorPerMsg)
    console.log(
      `(a) at its CPU per message (${fixed(a.cpuPerMsg)} µs) plus the generator's (${fixed(a.generatorPerMsg)} µs) with all ${availableParallelism()} cores to themselves: ` +
        `${fixed(ceiling, 0)} msgs/s = ${fixed(ceiling / a0.rate, 2)}× (a0); it used ${fixed(a.serverCpu + (a.generatorPerMsg * a.rate) / 1e6, 2)} cores of them, others ${fixed(a.machine.busy - a.serverCpu - (a.generatorPerMsg * a.rate) / 1e6, 2)}, idle ${fixed(a.machine.idle, 2)}`
    )
  }
}

/** Median of numbers (the mean of the middle two for an even count). */
const median = (values: ReadonlyArray<number>): number => {
  const sorted = [...values].sort((x, y) => x - y)
  const middle = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const memoryPart = async () => {
  console.log(
    `\nmemory: idle registered agents (server RSS from /proc after a forced GC; per agent = growth from the 50-agent baseline; ${MEMORY_RUNS} run${MEMORY_RUNS === 1 ? "" : "s"} of each server, median and range)`
  )
  console.log(`gateway node flags (npm start's): ${GATEWAY_NODE_FLAGS.join(" ") || "none"}`)
  const runsOf = async (spec: ServerSpec, overrides: Record<string, unknown>, nodeFlags: ReadonlyArray<string> = []) => {
    const runs: Array<{ stages: Array<MemoryStage>; note?: string }> = []
    for (let run = 0; run < MEMORY_RUNS; run++) runs.push(await memoryRun(spec, overrides, nodeFlags))
    return runs
  }
  const measured = [
    ["(a) gateway", await runsOf(servers.a, { sessionTimeoutMs: 600_000, heartbeatIntervalMs: 200_000, handshakeTimeoutMs: 60_000 })],
    ["(c) raw ws relay", await runsOf(servers.c, {})],
    ["(c) raw ws, gateway's flags", await runsOf(servers.c, {}, GATEWAY_NODE_FLAGS)]
  ] as const
  const stageCount = Math.min(...measured.flatMap(([, runs]) => runs.map((run) => run.stages.length)))
  const perAgent = (stages: Array<MemoryStage>, i: number, field: "rssKiB" | "heapKiB") =>
    (stages[i]![field] - stages[0]![field]) / (stages[i]!.agents - stages[0]!.agents)
  /** Per stage after the baseline: the median of the runs' per-agent RSS, its range, and the median heap per agent. */
  const summary = measured.map(([label, runs]) => ({
    label,
    notes: [...new Set(runs.flatMap((run) => run.note === undefined ? [] : [run.note]))],
    baseline: { agents: runs[0]!.stages[0]!.agents, rssMiB: median(runs.map((run) => run.stages[0]!.rssKiB / 1024)) },
    stages: Array.from({ length: stageCount - 1 }, (_, k) => {
      const i = k + 1
      const rss = runs.map((run) => perAgent(run.stages, i, "rssKiB"))
      return {
        agents: runs[0]!.stages[i]!.agents,
        rssMiB: median(runs.map((run) => run.stages[i]!.rssKiB / 1024)),
        rss: median(rss),
        low: Math.min(...rss),
        high: Math.max(...rss),
        heap: median(runs.map((run) => perAgent(run.stages, i, "heapKiB"))),
        seconds: median(runs.map((run) => run.stages[i]!.ms / 1000))
      }
    })
  }))
  console.log(`${"server".padEnd(32)} ${pad("agents", 7)} ${pad("RSS MiB", 8)} ${pad("KiB/agent", 10)} ${pad("range", 12)} ${pad("heap KiB/agent", 15)} ${pad("connect s", 10)}`)
  for (const { baseline, label, notes, stages } of summary) {
    console.log(`${label.padEnd(32)} ${pad(String(baseline.agents), 7)} ${pad(fixed(baseline.rssMiB), 8)} ${pad("-", 10)} ${pad("-", 12)} ${pad("-", 15)} ${pad("-", 10)}`)
    for (const stage of stages) {
      const range = `${fixed(stage.low)}–${fixed(stage.high)}`
      console.log(`${"".padEnd(32)} ${pad(String(stage.agents), 7)} ${pad(fixed(stage.rssMiB), 8)} ${pad(fixed(stage.rss), 10)} ${pad(range, 12)} ${pad(fixed(stage.heap), 15)} ${pad(fixed(stage.seconds), 10)}`)
    }
    for (const note of notes) console.log(`  note: ${note}`)
  }
  const [gateway, raw, rawSameFlags] = summary
  gateway!.stages.forEach((stage, i) => {
    const ratio = stage.rss / raw!.stages[i]!.rss
    const sameFlags = stage.rss / rawSameFlags!.stages[i]!.rss
    console.log(
      `RSS per agent at ${stage.agents} agents (medians): gateway / raw ws = ${fixed(ratio, 2)}× (goal ≤ 2×: ${ratio <= 2 ? "MET" : "NOT MET"}); / raw ws with the gateway's flags = ${fixed(sameFlags, 2)}×`
    )
  })
}

const floodPart = async () => {
  console.log(`\nflood: one honest pair, one signed OFFER round trip every 25 ms, (a) at default limits (handshake/connection limits raised)`)
  const flood = await floodRun()
  const q = flood.quiet.latency as { count: number; p50: number; p99: number; max: number }
  const f = flood.flooded.latency as { count: number; p50: number; p99: number; max: number }
  console.log(`${"phase".padEnd(12)} ${pad("rounds", 7)} ${pad("lost", 5)} ${pad("p50 ms", 7)} ${pad("p99 ms", 7)} ${pad("max ms", 7)}`)
  console.log(`${"quiet".padEnd(12)} ${pad(String(q.count), 7)} ${pad(String(flood.quiet.lost), 5)} ${pad(fixed(q.p50, 2), 7)} ${pad(fixed(q.p99, 2), 7)} ${pad(fixed(q.max, 2), 7)}`)
  console.log(`${"flooded".padEnd(12)} ${pad(String(f.count), 7)} ${pad(String(flood.flooded.lost), 5)} ${pad(fixed(f.p50, 2), 7)} ${pad(fixed(f.p99, 2), 7)} ${pad(fixed(f.max, 2), 7)}`)
  console.log(`flooded / quiet: p50 ${fixed(f.p50 / q.p50, 2)}×, p99 ${fixed(f.p99 / q.p99, 2)}×; server CPU while flooded ${fixed(flood.serverCpu * 100, 0)}%; honest errors ${String(flood.flooded.errors)}, closes ${JSON.stringify(flood.flooded.closes)}`)
  const seconds = flood.flood.seconds as number
  const stats = flood.flood.stats as Record<string, { connections: number; refused: number; frames: number; bytes: number; closes: Record<string, number> }>
  for (const [name, s] of Object.entries(stats)) {
    console.log(`  flooder ${name.padEnd(8)} ${pad(fixed(s.frames / seconds, 0), 7)} frames/s ${pad(fixed(s.bytes / seconds / 1024 / 1024, 1), 6)} MiB/s  ${s.connections} connections, ${s.refused} refused, closes ${JSON.stringify(s.closes)}`)
  }
}

const clusterPart = async () => {
  console.log(`\ncluster: two gateway nodes (verify on) on one redis-server; the same load with both agents of each pair on node 1, then on different nodes, then each pair on one node with the pairs spread over both`)
  const { crossNode, sameNode, sameNodes } = await clusterRun()
  console.log(`${"agents".padEnd(14)} ${pad("sat. msgs/s", 11)} ${pad("p99 ms", 7)} ${pad("µs/msg", 7)}   ${pad(`at ${PACED_RATE}/s: p50 ms`, 18)} ${pad("p99 ms", 7)} ${pad("µs/msg", 7)}`)
  for (const r of [sameNode, crossNode, sameNodes]) {
    console.log(`${r.label.padEnd(14)} ${pad(fixed(r.saturated.rate, 0), 11)} ${pad(fixed(r.saturated.p99, 2), 7)} ${pad(fixed(r.saturated.cpuPerMsg), 7)}   ${pad(fixed(r.paced.p50, 2), 18)} ${pad(fixed(r.paced.p99, 2), 7)} ${pad(fixed(r.paced.cpuPerMsg), 7)}`)
  }
  console.log("(µs/msg: CPU of both nodes and redis-server per relayed message)")
  for (const r of [sameNode, crossNode, sameNodes]) {
    const parts = (m: Measured) => `node 1 ${fixed(m.perPid[0]!)}, node 2 ${fixed(m.perPid[1]!)}, redis ${fixed(m.perPid[2]!)}; ${fixed(m.probedPerMsg, 3)} PUBLISH per message`
    console.log(`  ${r.label}: saturated ${parts(r.saturated)}; at ${PACED_RATE}/s ${parts(r.paced)}`)
  }
  console.log(`across / same node: saturated msgs/s ${fixed(crossNode.saturated.rate / sameNode.saturated.rate, 2)}×, p99 ${fixed(crossNode.saturated.p99 / sameNode.saturated.p99, 2)}×; at ${PACED_RATE}/s p99 ${fixed(crossNode.paced.p99 / sameNode.paced.p99, 2)}×, CPU per message ${fixed(crossNode.paced.cpuPerMsg / sameNode.paced.cpuPerMsg, 2)}×`)
  console.log(`across nodes / same node with the pairs spread over both nodes (each node carries half the load either way): saturated CPU per message ${fixed(crossNode.saturated.cpuPerMsg / sameNodes.saturated.cpuPerMsg, 2)}×; at ${PACED_RATE}/s ${fixed(crossNode.paced.cpuPerMsg / sameNodes.paced.cpuPerMsg, 2)}×`)
  if (crossNode.errors + sameNode.errors > 0) console.log(`unmatched frames: same node ${sameNode.errors}, across ${crossNode.errors}`)
}

// ---------------------------------------------------------------------------
// 7. Idle agents that heartbeat
// ---------------------------------------------------------------------------

interface IdleResult {
  readonly label: string
  readonly agents: number
  readonly registerSeconds: number
  /** Server CPU (all threads) over the window, as a share of one core. */
  readonly cpu: number
  /** The same, of its main thread alone (where the JavaScript runs; GC helpers and libuv are other threads). */
  readonly mainCpu: number
  readonly heartbeats: number
  readonly late: number
  readonly usPerHeartbeat: number
  readonly rssPerAgentKiB: number
  readonly heapPerAgentKiB: number
  readonly rssMiB: number
}

const idleRun = async (
  label: string,
  kind: "gateway" | "raw",
  heartbeat: "frame" | "ping" | "none",
  agents: number
): Promise<IdleResult> => {
  // Without heartbeats the session timeout is out of the way (the agents stay registered, idle).
  const sessionTimeoutMs = heartbeat === "none" ? 100 * HEARTBEAT_MS : 3 * HEARTBEAT_MS
  const overrides = { ...unlimited, maxTcpConnectionsPerIp: 1e6, heartbeatIntervalMs: HEARTBEAT_MS, sessionTimeoutMs, handshakeTimeoutMs: 60_000 }
  // The raw server runs with the gateway's node flags too: the same young generation on both sides.
  const server = kind === "gateway"
    ? start(label, GATEWAY_SCRIPT, gatewayArgs(overrides), ["--expose-gc"])
    : start(label, "server-raw.ts", ["plain"], ["--expose-gc", ...GATEWAY_NODE_FLAGS])
  try {
    const { url } = await server.next("listening", 30_000)
    const load = start("idle", "load.ts", [JSON.stringify({ mode: "idle", kind, url, concurrency: 64, heartbeat, intervalMs: HEARTBEAT_MS })])
    /** RSS and JS heap in KiB after a full GC. */
    const afterGc = async () => {
      server.send("gc")
      const gc = await server.next("gc", 60_000)
      await sleep(300)
      return { rss: rssKiB(server.pid), heap: (gc.memory as { heapUsed: number }).heapUsed / 1024 }
    }
    try {
      // 50 agents first: warm code paths and fixed costs are in the baseline, not per agent.
      load.send("to 50")
      const first = await load.next("stage", 60_000)
      const before = await afterGc()
      load.send(`to ${agents}`)
      const stage = await load.next("stage", 900_000)
      const count = stage.count as number
      load.send("beat")
      // One interval (and a little): every agent has sent its first heartbeat, the pace is steady.
      await sleep(HEARTBEAT_MS + 2000)
      load.send("beats")
      const beats0 = await load.next("beats", 10_000)
      // With GATEWAY_BENCH_CPU_PROF, a profile of the window alone (the profiler's own cost is in the CPU then).
      const profileFile = CPU_PROF_DIR === undefined ? undefined : join(CPU_PROF_DIR, `idle-${heartbeat}-${kind}-${agents}.cpuprofile`)
      if (profileFile !== undefined) {
        server.send("prof-start")
        await server.next("prof", 10_000)
      }
      const cpu0 = cpuUs(server.pid)
      const main0 = mainThreadCpuUs(server.pid)
      const t0 = performance.now()
      await sleep(IDLE_WINDOW_MS)
      const cpu1 = cpuUs(server.pid)
      const main1 = mainThreadCpuUs(server.pid)
      const seconds = (performance.now() - t0) / 1000
      if (profileFile !== undefined) {
        server.send(`prof-stop ${profileFile}`)
        await server.next("prof", 30_000)
        console.log(`  profiled ${label}: ${profileFile}`)
      }
      load.send("beats")
      const beats1 = await load.next("beats", 10_000)
      const after = await afterGc()
      const heartbeats = (beats1.sent as number) - (beats0.sent as number)
      return {
        label,
        agents: count,
        registerSeconds: (stage.ms as number) / 1000 + (first.ms as number) / 1000,
        cpu: (cpu1 - cpu0) / 1e6 / seconds,
        mainCpu: (main1 - main0) / 1e6 / seconds,
        heartbeats,
        late: beats1.late as number,
        usPerHeartbeat: heartbeats > 0 ? (cpu1 - cpu0) / heartbeats : Number.NaN,
        rssPerAgentKiB: (after.rss - before.rss) / (count - (first.count as number)),
        heapPerAgentKiB: (after.heap - before.heap) / (count - (first.count as number)),
        rssMiB: after.rss / 1024
      }
    } finally {
      await load.stop()
    }
  } finally {
    await server.stop()
  }
}

const idlePart = async () => {
  console.log(
    `\nidle: N registered agents that only heartbeat, one per agent every ${HEARTBEAT_MS / 1000} s (spread evenly); server CPU over ${IDLE_WINDOW_MS / 1000} s ` +
      `after one interval of warm-up; RSS per agent after a forced GC, growth from 50 agents (both servers with npm start's node flags)`
  )
  const runs: Array<[string, "gateway" | "raw", "frame" | "ping" | "none"]> = [
    ["(a) gateway, HEARTBEAT frames", "gateway", "frame"],
    ["(a') gateway, signed PINGs (old)", "gateway", "ping"],
    ["(a0) gateway, no heartbeats", "gateway", "none"],
    ["(c) raw ws, tiny frame each way", "raw", "frame"]
  ]
  const keys = ["frame", "ping", "none", "raw"]
  for (const agents of IDLE_AGENTS) {
    const results: Array<IdleResult> = []
    for (const [i, [label, kind, heartbeat]] of runs.entries()) {
      if (!IDLE_SERVERS.has(keys[i]!)) continue
      const result = await idleRun(label, kind, heartbeat, agents)
      results.push(result)
      console.log(`  ran ${label}: ${result.agents} agents in ${fixed(result.registerSeconds)} s, CPU ${fixed(result.cpu * 100, 2)}%`)
    }
    console.log(`${"server".padEnd(34)} ${pad("agents", 7)} ${pad("CPU %", 7)} ${pad("main %", 7)} ${pad("beats/s", 8)} ${pad("µs/beat", 8)} ${pad("late", 5)} ${pad("RSS MiB", 8)} ${pad("KiB/agent", 10)} ${pad("heap KiB/agent", 15)} ${pad("connect s", 10)}`)
    for (const r of results) {
      console.log(`${r.label.padEnd(34)} ${pad(String(r.agents), 7)} ${pad(fixed(r.cpu * 100, 2), 7)} ${pad(fixed(r.mainCpu * 100, 2), 7)} ${pad(fixed(r.heartbeats / (IDLE_WINDOW_MS / 1000), 0), 8)} ${pad(fixed(r.usPerHeartbeat), 8)} ${pad(String(r.late), 5)} ${pad(fixed(r.rssMiB), 8)} ${pad(fixed(r.rssPerAgentKiB), 10)} ${pad(fixed(r.heapPerAgentKiB), 15)} ${pad(fixed(r.registerSeconds), 10)}`)
    }
    const find = (prefix: string) => results.find((r) => r.label.startsWith(prefix))
    const frame = find("(a) ")
    const raw = find("(c) ")
    const ping = find("(a') ")
    if (frame !== undefined && raw !== undefined) {
      // 50,000 agents at the bench's interval (the default unless set) send 50,000 / interval
      // heartbeats a second: the heartbeats' share (over the gateway without heartbeats, whose idle
      // CPU did not grow from 10,000 to 18,000 agents) scales with the heartbeat rate, the idle share
      // is kept as it is.
      const rate = (r: IdleResult) => r.heartbeats / (IDLE_WINDOW_MS / 1000)
      const rateAt50k = 50_000 / (HEARTBEAT_MS / 1000)
      const idleShare = find("(a0) ")?.cpu ?? 0
      const at50k = idleShare + ((frame.cpu - idleShare) * rateAt50k) / rate(frame)
      const raw50k = (raw.cpu * rateAt50k) / rate(raw)
      console.log(`(a) / (c): CPU ${fixed(frame.cpu / raw.cpu, 2)}×, µs per heartbeat ${fixed(frame.usPerHeartbeat / raw.usPerHeartbeat, 2)}×, RSS per agent ${fixed(frame.rssPerAgentKiB / raw.rssPerAgentKiB, 2)}× (goal ≤ 2×: ${frame.rssPerAgentKiB <= 2 * raw.rssPerAgentKiB ? "MET" : "NOT MET"})`)
      console.log(`scaled to 50,000 agents at a ${HEARTBEAT_MS / 1000} s heartbeat (${fixed(rateAt50k, 0)}/s${find("(a0) ") === undefined ? "; run (a0) too for the idle share" : ""}): (a) ${fixed(at50k * 100, 2)}% of a core (goal ≤ 5%: ${at50k <= 0.05 ? "MET" : "NOT MET"}), (c) ${fixed(raw50k * 100, 2)}% (an estimate: the 50k bench measures it)`)
    }
    if (frame !== undefined && ping !== undefined) console.log(`signed PING / HEARTBEAT frame at the gateway: CPU ${fixed(ping.cpu / frame.cpu, 2)}×, µs per heartbeat ${fixed(ping.usPerHeartbeat / frame.usPerHeartbeat, 2)}×`)
    console.log("(CPU %: the server process, all threads, as a share of one core; main %: its main thread alone; µs/beat: that CPU over the heartbeats sent in the window, idle costs included; late: heartbeats unanswered within an interval; the machine is shared)")
  }
}
