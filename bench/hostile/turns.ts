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
}

let state: State | undefined

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
  s.lastWall = wall
  s.lastCpuUs = cpuUs
}

const reset = () => {
  if (state !== undefined) clearInterval(state.timer)
  const now = performance.now()
  const cpuUs = threadCpuUs()
  state = { timer: setInterval(tick, TICK_MS), lastWall: now, lastCpuUs: cpuUs, late: [], cpu: [], startedAt: now, cpuAtStart: cpuUs }
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
    threadCpu: (threadCpuUs() - s.cpuAtStart) / 1000 / elapsed
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
    if (state !== undefined) clearInterval(state.timer)
    state = undefined
    return true
  }
  return false
}
