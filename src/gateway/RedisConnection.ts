/**
 * The Node.js connection to a cluster's Redis, from the gateway configuration: `redis://` or
 * `rediss://` (TLS) URLs with credentials (AUTH), and optionally a private CA for TLS.
 *
 * Commands fail at once while the connection is down (no offline queue), so a node notices an
 * outage and degrades instead of stalling its agents; the client reconnects with a capped backoff
 * for as long as the node runs. The first connection must succeed: a node does not start without
 * its cluster. Each time the connection is ready again after a loss, `RedisRestored` says so:
 * Redis may have restarted empty, and a cluster node re-publishes its agents at once instead of
 * at its next presence refresh. `RedisPubSub` is the relay's path through the same client: a
 * PUBLISH answered by a callback and a subscription that hands each message to a callback, with no
 * fiber, Effect or queue per message.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { Context, Deferred, Effect, Layer, PubSub, Redacted, Schema, type Scope, Stream } from "effect"
import * as Redis from "effect/persistence/Redis"
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

/**
 * Pub/sub for a cluster's relay path, per message without a fiber: a frame crossing nodes costs
 * its PUBLISH and one callback at each end, as a frame within a node costs one write.
 */
export class RedisPubSub extends Context.Service<RedisPubSub, {
  /** Sends PUBLISH now; `answered` gets how many subscribers it reached, or the failure. */
  readonly publish: (channel: string, message: string, answered: (receivers: number | Redis.RedisError) => void) => void
  /**
   * Subscribes to `channel` for the scope on a connection of its own (re-subscribed by the client
   * after a reconnection) and hands every message to `onMessage` as it arrives. Succeeds once the
   * subscription is in place with an Effect that fails when the subscription is lost for good.
   */
  readonly subscribe: (
    channel: string,
    onMessage: (message: string) => void
  ) => Effect.Effect<Effect.Effect<never, Redis.RedisError>, Redis.RedisError, Scope.Scope>
}>()("aiconexus/gateway/RedisPubSub") {}

/** The `RedisPubSub` of a node-redis client (its options, and so its reconnection strategy, are the subscribers' too). */
const makePubSub = (client: NodeRedis.NodeRedis["Service"]["client"], logWarning: (message: string, cause: unknown) => void): RedisPubSub["Service"] =>
  RedisPubSub.of({
    publish: (channel, message, answered) => {
      client.sendCommand(["PUBLISH", channel, message]).then(
        (receivers) => answered(Number(receivers)),
        (cause: unknown) => answered(new Redis.RedisError({ cause }))
      )
    },
    subscribe: (channel, onMessage) =>
      Effect.gen(function*() {
        const lost = yield* Deferred.make<never, Redis.RedisError>()
        yield* Effect.acquireRelease(
          Effect.tryPromise({
            try: async () => {
              const subscriber = client.duplicate()
              subscriber.on("error", (cause: unknown) => {
                logWarning("Redis subscriber error", cause)
                if (!subscriber.isOpen) Deferred.doneUnsafe(lost, Effect.fail(new Redis.RedisError({ cause })))
              })
              try {
                await subscriber.connect()
                await subscriber.subscribe(channel, (message: string) => onMessage(message))
                return subscriber
              } catch (cause) {
                if (subscriber.isOpen) subscriber.destroy()
                throw cause
              }
            },
            catch: (cause) => new Redis.RedisError({ cause })
          }),
          (subscriber) => Effect.sync(() => void (subscriber.isOpen && subscriber.destroy()))
        )
        return Deferred.await(lost)
      })
  })

/** The longest pause between reconnection attempts. */
const MAX_RECONNECT_DELAY_MS = 1000

/** A Redis connection for a node configured with `redisUrl`. */
export const layer = (config: GatewayConfig, redisUrl: Redacted.Redacted<string>): Layer.Layer<Redis.Redis | RedisRestored | RedisPubSub, RedisUnavailable> =>
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
    const runFork = Effect.runForkWith(yield* Effect.context<never>())
    const pubSub = makePubSub(client, (message, cause) => void runFork(Effect.logWarning(message, cause)))
    return context.pipe(
      Context.add(RedisRestored, RedisRestored.of({ restored: Stream.fromPubSub(restored) })),
      Context.add(RedisPubSub, pubSub)
    )
  }))
