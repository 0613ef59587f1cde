/**
 * The Node.js connection to a cluster's Redis, from the gateway configuration: `redis://` or
 * `rediss://` (TLS) URLs with credentials (AUTH), and optionally a private CA for TLS.
 *
 * Commands fail at once while the connection is down (no offline queue), so a node notices an
 * outage and degrades instead of stalling its agents; the client reconnects with a capped backoff
 * for as long as the node runs. The first connection must succeed: a node does not start without
 * its cluster. Each time the connection is ready again after a loss, `RedisRestored` says so:
 * Redis may have restarted empty, and a cluster node re-publishes its agents at once instead of
 * at its next presence refresh.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { Context, Effect, Layer, PubSub, Redacted, Schema, Stream } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { GatewayConfig } from "./GatewayConfig.ts"

/** The node could not connect to its cluster's Redis when it started. */
export class RedisUnavailable extends Schema.TaggedError<RedisUnavailable>()("RedisUnavailable", {
  /** The URL without its credentials. */
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot connect to the cluster's Redis at ${this.url}: ${this.reason}`
  }
}

/** A Redis URL fit for logs: user name and password removed. */
export const withoutCredentials = (url: string): string => {
  try {
    const parsed = new URL(url)
    parsed.username = ""
    parsed.password = ""
    return parsed.toString()
  } catch {
    return "(an unparsable URL)"
  }
}

/** The connection to Redis is ready again after it was lost (Redis may have restarted empty). */
export class RedisRestored extends Context.Service<RedisRestored, {
  /** One element each time the connection is ready again after a loss. */
  readonly restored: Stream.Stream<void>
}>()("aiconexus/gateway/RedisRestored") {}

/** The longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1000

/** A Redis connection for a node configured with `redisUrl`. */
export const layer = (config: GatewayConfig, redisUrl: Redacted.Redacted<string>): Layer.Layer<Redis.Redis | RedisRestored, RedisUnavailable> =>
  Layer.effectContext(Effect.gen(function*() {
    const url = Redacted.value(redisUrl)
    const unavailable = (reason: string) => new RedisUnavailable({ url: withoutCredentials(url), reason })
    const caFile = config.redisTlsCaFile
    const ca = caFile === undefined ? undefined : yield* Effect.try({
      try: () => readFileSync(caFile),
      catch: (cause) => unavailable(`cannot read the CA file ${caFile}: ${cause instanceof Error ? cause.message : String(cause)}`)
    })
    // Until the first connection succeeds, a failure fails the layer; afterwards, retry forever.
    let connected = false
    const reconnectStrategy = (retries: number, cause: Error) =>
      connected ? Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100) : cause
    const tls = url.startsWith("rediss://") ? { tls: true as const, ...(ca === undefined ? {} : { ca }) } : {}
    const context = yield* Layer.build(NodeRedis.layer({ url, disableOfflineQueue: true, socket: { ...tls, reconnectStrategy } })).pipe(
      Effect.mapError((error) => unavailable(error.cause instanceof Error ? error.cause.message : String(error.cause)))
    )
    connected = true
    // Later `ready` events are reconnections; a sliding PubSub: a listener that is busy sees the latest one.
    const restored = yield* PubSub.sliding<void>(1)
    const client = Context.get(context, NodeRedis.NodeRedis).client
    const onReady = () => void PubSub.publishUnsafe(restored, undefined)
    client.on("ready", onReady)
    yield* Effect.addFinalizer(() => Effect.sync(() => void client.off("ready", onReady)))
    return Context.add(context, RedisRestored, RedisRestored.of({ restored: Stream.fromPubSub(restored) }))
  }))
