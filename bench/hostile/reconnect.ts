/**
 * Many agents on one gateway, for the reconnection part of `npm run bench -- hostile`. argv[2]:
 * `{"url","agents","sources":[loopback addresses]}`: `agents` GatewayClients with the default
 * reconnection schedule, spread over the source addresses (each one host to the gateway's
 * per-IP limits). Emits `ready` once all registered; answers `count` and `attempts`
 * (herdRecord.ts); exits when stdin closes.
 */
import { WebSocket } from "@effect/platform-node-shared/NodeWS"
import { Context, Effect, Layer, Stream } from "effect"
import * as Socket from "effect/socket/Socket"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { emit } from "../gateway/common.ts"
import * as HerdRecord from "./herdRecord.ts"

const job = JSON.parse(process.argv[2] ?? "{}") as { url: string; agents: number; sources: ReadonlyArray<string> }

const recorded = HerdRecord.record(job.agents)

/** `ws` sockets bound to `localAddress`, each dial recorded for agent `index`. */
const fromAddress = (localAddress: string, index: number) =>
  Layer.succeed(Socket.WebSocketConstructor)((url, options) => {
    recorded.dialled(index)
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
      const client = Context.get(context, GatewayClient)
      yield* Effect.forkScoped(Stream.runForEach(client.changes, (state) => Effect.sync(() => {
        if (state._tag === "Registered") recorded.registered(i)
      })))
      yield* client.session
    }), { concurrency: 50, discard: true })
  emit({ event: "ready", ms: Math.round(performance.now() - started), rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) })
  return yield* Effect.never
}).pipe(Effect.scoped)

Effect.runPromise(program).catch((cause) => {
  console.error("reconnect agents failed:", cause)
  process.exit(1)
})
