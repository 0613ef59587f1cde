/**
 * The event loop's turns of a gateway process under attack, measured from inside it (for
 * `npm run bench -- hostile`): a 1 ms timer notes how late each of its ticks comes, and how much
 * CPU this thread used in between. A late tick with the thread on the CPU all along is a long turn
 * of the gateway's own (what an honest frame that became ready waits behind); a late tick with
 * the thread off the CPU is the machine's scheduler (two cores shared with the attacker, the
 * honest pair and, here, other work).
 *
 * stdin commands (through `turnsCommand`): `turns-reset` starts (or restarts) measuring; `turns`
 * answers `{"event":"turns", ...}` (see `report`).
 */
import { Server, Socket } from "node:net"
import { PerformanceObserver } from "node:perf_hooks"
import { emit } from "../gateway/common.ts"

const TICK_MS = 1

/** Lateness thresholds (ms) the report counts ticks over. */
const OVER = [2, 5, 10, 20] as const

interface State {
  timer: ReturnType<typeof setInterval>
  lastWall: number
  lastCpuUs: number
  /** Lateness of each tick past TICK_MS (ms), and the thread's CPU time in its gap (ms). */
  late: Array<number>
  cpu: Array<number>
  startedAt: number
  cpuAtStart: number
  /** Garbage collections in the window: their pauses (ms) by kind (V8's `detail.kind`). */
  gc: Array<{ kind: number; ms: number }>
  observer: PerformanceObserver
}

let state: State | undefined

// What the thread did between two ticks, by callback: socket and server events (a socket's `data`
// includes ws's parsing of the chunk and every frame handled in it), setImmediate callbacks.
interface Spent {
  n: number
  ms: number
  bytes: number
  max: number
}
let gap = new Map<string, Spent>()
/** The same, summed over the gaps whose CPU was over 2 ms, and the 5 longest gaps' own. */
let longGaps = new Map<string, Spent>()
let longest: Array<{ cpu: number; spent: Record<string, Spent> }> = []
let depth = 0

const charge = (what: string, ms: number, bytes: number) => {
  let spent = gap.get(what)
  if (spent === undefined) gap.set(what, spent = { n: 0, ms: 0, bytes: 0, max: 0 })
  spent.n++
  spent.ms += ms
  spent.bytes += bytes
  spent.max = Math.max(spent.max, ms)
}

/** Times the outermost callbacks only (an event emitted inside another is part of it). */
const timed = <A>(what: string, bytes: number, run: () => A): A => {
  if (state === undefined || depth > 0) return run()
  depth++
  const t0 = performance.now()
  try {
    return run()
  } finally {
    depth--
    charge(what, performance.now() - t0, bytes)
  }
}

type Emit = (this: unknown, event: string | symbol, ...args: Array<unknown>) => boolean
const socketEmit = Socket.prototype.emit as Emit
;(Socket.prototype as { emit: Emit }).emit = function(event, ...args) {
  const chunk = args[0]
  return timed(`socket ${String(event)}`, event === "data" && chunk instanceof Uint8Array ? chunk.byteLength : 0, () => socketEmit.call(this, event, ...args))
}
const serverEmit = Server.prototype.emit as Emit
;(Server.prototype as { emit: Emit }).emit = function(event, ...args) {
  return timed(`server ${String(event)}`, 0, () => serverEmit.call(this, event, ...args))
}
const originalSetImmediate = globalThis.setImmediate
globalThis.setImmediate = ((callback: (...args: Array<unknown>) => void, ...args: Array<unknown>) =>
  originalSetImmediate(() => timed("setImmediate", 0, () => callback(...args)))) as typeof setImmediate

const closeGap = (cpu: number) => {
  if (cpu > 2) {
    for (const [what, spent] of gap) {
      let total = longGaps.get(what)
      if (total === undefined) longGaps.set(what, total = { n: 0, ms: 0, bytes: 0, max: 0 })
      total.n += spent.n
      total.ms += spent.ms
      total.bytes += spent.bytes
      total.max = Math.max(total.max, spent.max)
    }
    if (longest.length < 5 || cpu > longest.at(-1)!.cpu) {
      longest.push({ cpu, spent: Object.fromEntries(gap) })
      longest.sort((a, b) => b.cpu - a.cpu)
      longest = longest.slice(0, 5)
    }
  }
  gap = new Map()
}

const threadCpuUs = (): number => {
  const usage = process.threadCpuUsage()
  return usage.user + usage.system
}

const tick = () => {
  const s = state!
  const wall = performance.now()
  const cpuUs = threadCpuUs()
  s.late.push(Math.max(0, wall - s.lastWall - TICK_MS))
  s.cpu.push((cpuUs - s.lastCpuUs) / 1000)
  closeGap((cpuUs - s.lastCpuUs) / 1000)
  s.lastWall = wall
  s.lastCpuUs = cpuUs
}

const reset = () => {
  stop()
  const now = performance.now()
  const cpuUs = threadCpuUs()
  const gc: State["gc"] = []
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) gc.push({ kind: (entry as unknown as { detail: { kind: number } }).detail.kind, ms: entry.duration })
  })
  observer.observe({ entryTypes: ["gc"] })
  gap = new Map()
  longGaps = new Map()
  longest = []
  state = { timer: setInterval(tick, TICK_MS), lastWall: now, lastCpuUs: cpuUs, late: [], cpu: [], startedAt: now, cpuAtStart: cpuUs, gc, observer }
}

const stop = () => {
  if (state === undefined) return
  clearInterval(state.timer)
  state.observer.disconnect()
  state = undefined
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!

/**
 * What the ticks saw: lateness p50/p99/max (ms); for each threshold, how many ticks came later
 * than it and, of their gaps, the share the thread spent on the CPU (1: the gateway's own long
 * turns; near 0: it waited for a CPU); the thread's CPU time between two ticks (p99, p99.9, max,
 * and how many gaps used more than each threshold: the gateway's own long turns, whatever the
 * machine's load); the main thread's CPU share over the window.
 */
const report = () => {
  const s = state
  if (s === undefined) return { event: "turns", ticks: 0 }
  const sorted = [...s.late].sort((a, b) => a - b)
  const over = Object.fromEntries(OVER.map((ms) => {
    let n = 0
    let gap = 0
    let cpu = 0
    s.late.forEach((late, i) => {
      if (late <= ms) return
      n++
      gap += late + TICK_MS
      cpu += s.cpu[i]!
    })
    return [`over${ms}`, { n, onCpu: n === 0 ? Number.NaN : Math.min(1, cpu / gap) }]
  }))
  // The CPU the thread used between two ticks: a turn (or a few) of the gateway's own, whatever the machine's load.
  const cpuSorted = [...s.cpu].sort((a, b) => a - b)
  const cpuOver = Object.fromEntries(OVER.map((ms) => [`cpuOver${ms}`, s.cpu.filter((cpu) => cpu > ms).length]))
  const elapsed = performance.now() - s.startedAt
  return {
    event: "turns",
    ticks: s.late.length,
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1) ?? Number.NaN,
    over,
    cpuP99: percentile(cpuSorted, 99),
    cpuP999: percentile(cpuSorted, 99.9),
    cpuMax: cpuSorted.at(-1) ?? Number.NaN,
    cpuOver,
    // V8's kinds: 1 scavenge (young generation), 2 mark-compact, 4 incremental marking, 8 weak callbacks, 16 minor mark-sweep.
    gc: { count: s.gc.length, ms: s.gc.reduce((sum, g) => sum + g.ms, 0), max: Math.max(0, ...s.gc.map((g) => g.ms)), over2: s.gc.filter((g) => g.ms > 2).length, majors: s.gc.filter((g) => g.kind === 2).length },
    threadCpu: (threadCpuUs() - s.cpuAtStart) / 1000 / elapsed,
    longGaps: Object.fromEntries(longGaps),
    longest
  }
}

/** Handles `turns-reset` and `turns`; `false` for any other line. */
export const turnsCommand = (line: string): boolean => {
  if (line === "turns-reset") {
    reset()
    return true
  }
  if (line === "turns") {
    emit(report())
    stop()
    return true
  }
  return false
}
