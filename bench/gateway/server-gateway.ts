/**
 * Our gateway in a process of its own, for `npm run bench -- gateway`.
 *
 * argv[2]: JSON overrides of `GatewayConfig` (rates as `{ perSecond, burst }`; `redisUrl` as a
 * plain string makes it a cluster node). Prints
 * `{"event":"listening","url","did"}` once it listens. stdin commands: `gc` (runs the garbage
 * collector when started with --expose-gc, answers `{"event":"gc"}`), `loop-reset` (starts or restarts
 * measuring the event loop's delay) and `loop` (the delay since the reset, answers `{"event":"loop","p50","p99","max"}` in ms), `heap <file>` (writes a
 * heap snapshot, answers `{"event":"heap"}`), `turns-reset` and `turns` (the event loop's turns at 1 ms
 * resolution, bench/hostile/turns.ts), `exit` (exits, which
 * also writes a --cpu-prof profile). Exits when stdin closes.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { writeHeapSnapshot } from "node:v8"
import { NodeRuntime } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import { collect, commands, emit, profileCommand } from "./common.ts"
import { turnsCommand } from "../hostile/turns.ts"

const { redisUrl, ...overrides } = JSON.parse(process.argv[2] ?? "{}") as Partial<GatewayConfig.GatewayConfig> & { redisUrl?: string }
const config = GatewayConfig.make({
  host: "127.0.0.1",
  port: 0,
  ...overrides,
  redisUrl: redisUrl === undefined ? undefined : Redacted.make(redisUrl)
})

// The event loop's delay (how long a ready callback waits for the loop): what the gateway itself adds to every frame.
// Measured from the first `loop-reset` on: its 10 ms timer wakes the loop 100 times a second,
// which alone showed as 0.35% of a core in the idle part.
let loopDelay: ReturnType<typeof monitorEventLoopDelay> | undefined

commands((line) => {
  if (profileCommand(line) || turnsCommand(line)) return
  if (line === "loop-reset") {
    if (loopDelay === undefined) {
      loopDelay = monitorEventLoopDelay({ resolution: 10 })
      loopDelay.enable()
    }
    loopDelay.reset()
  } else if (line === "loop") {
    const ms = (ns: number) => ns / 1e6
    const delay = loopDelay
    emit(delay === undefined
      ? { event: "loop", p50: Number.NaN, p99: Number.NaN, max: Number.NaN }
      : { event: "loop", p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), max: ms(delay.max) })
  } else if (line === "gc") {
    emit({ event: "gc", memory: collect() })
  } else if (line.startsWith("heap ")) {
    emit({ event: "heap", file: writeHeapSnapshot(line.slice(5)) })
  } else if (line === "exit") {
    process.exit(0)
  }
})

const announce = Layer.effectDiscard(Effect.gen(function*() {
  const gateway = yield* Gateway.Gateway
  emit({ event: "listening", url: gateway.url, did: gateway.did })
}))

Layer.launch(announce.pipe(Layer.provide(Gateway.layerFromConfig(config)))).pipe(NodeRuntime.runMain)
