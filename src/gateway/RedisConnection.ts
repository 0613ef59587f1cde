/**
 * The Node.js connection to a cluster's Redis, from the gateway configuration: `redis://` or
 * `rediss://` (TLS) URLs with credentials (AUTH), and optionally a private CA for TLS.
 *
 * Commands fail at once while the connection is down (no offline queue), so a node notices an
 * outage and degrades instead of stalling its agents; the client reconnects with a capped backoff
 * for as long as the node runs. The first connection must succeed: a node does not start without
 * its cluster.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { NodeRedis } from "@effect/platform-node"
import { Effect, Layer, Redacted } from "effect"
import type * as Redis from "effect/persistence/Redis"
import type { GatewayConfig } from "./GatewayConfig.ts"

/** The longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1000

/** A Redis connection for a node configured with `redisUrl`. */
export const layer = (config: GatewayConfig, redisUrl: Redacted.Redacted<string>): Layer.Layer<Redis.Redis, Redis.RedisError> =>
  Layer.unwrap(Effect.sync(() => {
    const url = Redacted.value(redisUrl)
    // Until the first connection succeeds, a failure fails the layer; afterwards, retry forever.
    let connected = false
    const reconnectStrategy = (retries: number, cause: Error) =>
      connected ? Math.min(50 * 2 ** Math.min(retries, 10), MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100) : cause
    const tls = url.startsWith("rediss://")
      ? { tls: true as const, ...(config.redisTlsCaFile === undefined ? {} : { ca: readFileSync(config.redisTlsCaFile) }) }
      : {}
    return NodeRedis.layer({ url, disableOfflineQueue: true, socket: { ...tls, reconnectStrategy } }).pipe(
      Layer.tap(() => Effect.sync(() => (connected = true)))
    )
  }))
