/**
 * NAT benchmark (`npm run bench -- nat`, as root): what each network path costs, on both stacks,
 * in the namespace lab of test/nat (gateway and coturn in "wan", one agent behind each router),
 * with 20 ms added each way between each router and wan (40 ms each way between the agents, as
 * far apart as two cities): by `tc netem` on the routers' interfaces, or where the kernel has no
 * netem, by test/nat/delay-wire.py (a user-space wire between TUN devices).
 *
 * Paths: `host` (routers without NAT: the agents' own addresses are routed), `srflx` (both behind
 * cone NATs: STUN), `relay-udp` (same NATs, relay-only policy: both through coturn over UDP) and
 * `relay-tcp` (werift only: both through coturn over TCP; libjuice has no TURN over TCP). For
 * each: connect time (connect → open control channel, through the gateway; median and p95 of
 * SETUPS) and throughput (BYTES one way over a data channel), each as a ratio to the host path of
 * the same stack in the same run. The baseline is the host path: the same code without NAT.
 */
import { join } from "node:path"
import { Effect } from "effect"
import * as Lab from "../test/nat/Lab.ts"

const SETUPS = 10
const BYTES = 8 * 1024 * 1024
const DELAY_MS = 20

type Stack = "node-datachannel" | "werift"
type PathName = "host" | "srflx" | "relay-udp" | "relay-tcp"

interface Run {
  readonly path: PathName
  readonly stack: Stack
  readonly setup: ReadonlyArray<number>
  readonly throughput: number
  readonly selected: string
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

const PEER = [join(Lab.ROOT_DIR, "bench", "nat-peer.ts")]

/** One path on one stack: a listener in b, a dialer in a. */
const measure = (lab: Lab.Lab, url: string, path: PathName, stack: Stack) =>
  Effect.scoped(Effect.gen(function*() {
    const peerStack = path === "relay-tcp" ? "werift-tcp" : stack
    const policy = path.startsWith("relay") ? "relay" : "all"
    const listener = yield* lab.spawn(lab.ns.b, [process.execPath, ...PEER, "listen", peerStack, policy, url, "-", "0", String(BYTES)])
    const did = (yield* Lab.waitLine(listener, /^ready (\S+)/))[1]!
    const dialer = yield* lab.spawn(lab.ns.a, [process.execPath, ...PEER, "dial", peerStack, policy, url, did, String(SETUPS), String(BYTES)])
    const { code, output } = yield* Lab.finished(dialer)
    const line = output.split("\n").find((l) => l.startsWith("{"))
    if (code !== 0 || line === undefined) return yield* Effect.die(new Error(`${path} on ${stack} failed:\n${output}`))
    const result = JSON.parse(line) as { setup: Array<number>; throughput: number; path: string }
    return { path, stack, setup: result.setup, throughput: result.throughput, selected: result.path } satisfies Run
  }))

const inLab = (config: Lab.LabConfig, paths: ReadonlyArray<PathName>) =>
  Effect.scoped(Effect.gen(function*() {
    const lab = yield* Lab.make({ ...config, delayMs: DELAY_MS })
    const url = yield* lab.gateway({ port: 8787 })
    const runs: Array<Run> = []
    for (const path of paths) {
      for (const stack of ["node-datachannel", "werift"] as const) {
        if (path === "relay-tcp" && stack === "node-datachannel") continue
        runs.push(yield* measure(lab, url, path, stack))
      }
    }
    return runs
  }))

export const main = async () => {
  const unavailable = Lab.labUnavailable()
  if (unavailable !== undefined) {
    console.log(`nat: skipped (${unavailable})`)
    return
  }
  const delay = Lab.netemAvailable()
    ? `netem ${DELAY_MS} ms on each router interface`
    : `${DELAY_MS} ms each way between wan and each router from test/nat/delay-wire.py (this kernel has no netem qdisc; the wire is a user-space copy, which also caps throughput)`
  console.log(`nat: namespace lab, ${delay}; setup ×${SETUPS}, ${BYTES / 1024 / 1024} MiB one way; ratios to the host path of the same stack`)
  const runs = await Effect.runPromise(Effect.gen(function*() {
    const host = yield* inLab({ natA: "none", natB: "none" }, ["host"])
    const natted = yield* inLab({ natA: "cone", natB: "cone" }, ["srflx", "relay-udp", "relay-tcp"])
    return [...host, ...natted]
  }))
  const rows = ["| path | stack | selected pair (local->remote) | setup median | setup p95 | vs host | throughput | vs host |", "|---|---|---|---|---|---|---|---|"]
  for (const stack of ["node-datachannel", "werift"] as const) {
    const base = runs.find((r) => r.path === "host" && r.stack === stack)!
    for (const run of runs.filter((r) => r.stack === stack)) {
      const median = percentile(run.setup, 50)
      rows.push(`| ${run.path} | ${stack} | ${run.selected} | ${median.toFixed(0)} ms | ${percentile(run.setup, 95).toFixed(0)} ms | ${(median / percentile(base.setup, 50)).toFixed(2)}x | ${run.throughput.toFixed(1)} MB/s | ${(run.throughput / base.throughput).toFixed(2)}x |`)
    }
  }
  rows.push("| relay-tcp | node-datachannel | — (libjuice has TURN over UDP only; the auto stack uses werift there) | | | | | |")
  console.log(rows.join("\n"))
}
