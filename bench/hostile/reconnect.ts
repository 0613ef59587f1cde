/**
 * Many agents on one gateway, for the reconnection part of `npm run bench -- hostile`. argv[2]:
 * `{"url","agents","sources":[loopback addresses]}`: `agents` GatewayClients with the default
 * reconnection schedule, spread over the source addresses (each one host to the gateway's
 * per-IP limits). Emits `ready` once all registered; exits when stdin closes.
 */
import { WebSocket } from "@effect/platform-node-shared/NodeWS"
import { Context, Effect, Layer } from "effect"
import * as Socket from "effect/socket/Socket"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { commands, emit } from "../gateway/common.ts"

const job = JSON.parse(process.argv[2] ?? "{}") as { url: string; agents: number; sources: ReadonlyArray<string> }

// When each agent dialled (epoch ms), to see how attempts spread after the gateway returns.
const attempts: Array<Array<number>> = Array.from({ length: job.agents }, () => [])

// `attempts <epoch ms>`: when each agent first dialled after that instant, and all dials per 0.5 s.
commands((line) => {
  if (!line.startsWith("attempts ")) return
  const since = Number(line.slice(9))
  const first = attempts.map((times) => times.find((t) => t >= since)).filter((t): t is number => t !== undefined).map((t) => t - since)
  first.sort((a, b) => a - b)
  const perHalfSecond = Array.from({ length: 20 }, () => 0)
  for (const times of attempts) {
    for (const t of times) if (t >= since && t < since + 10_000) perHalfSecond[Math.floor((t - since) / 500)]!++
  }
  emit({ event: "attempts", first, perHalfSecond })
})

/** `ws` sockets bound to `localAddress`, each dial recorded for agent `index`. */
const fromAddress = (localAddress: string, index: number) =>
  Layer.succeed(Socket.WebSocketConstructor)((url, options) => {
    attempts[index]!.push(Date.now())
    const protocols = options === undefined || typeof options === "string" || Array.isArray(options) ? options : options.protocols
    return new WebSocket(url, protocols, { localAddress }) as unknown as globalThis.WebSocket
  })

const program = Effect.gen(function*() {
  const started = performance.now()
  yield* Effect.forEach(Array.from({ length: job.agents }, (_, i) => i), (i) =>
    Effect.gen(function*() {
      const identity = yield* Identity.generate
      const context = yield* Layer.build(
        GatewayClient.layer({ urls: [job.url], identity }).pipe(
          Layer.provide(Layer.mergeAll(KnownGateways.layerMemory, fromAddress(job.sources[i % job.sources.length]!, i), NodeEd25519.layer))
        )
      )
      yield* Context.get(context, GatewayClient).session
    }), { concurrency: 50, discard: true })
  emit({ event: "ready", ms: Math.round(performance.now() - started), rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) })
  return yield* Effect.never
}).pipe(Effect.scoped)

Effect.runPromise(program).catch((cause) => {
  console.error("reconnect agents failed:", cause)
  process.exit(1)
})
