/**
 * The signaling gateway: HTTP endpoints (`/health`, `/agents`, `/metrics`) and WebSocket
 * sessions at `/ws` (PROTOCOL.md section 4), as a Layer.
 *
 * `Gateway.layer(config)` needs an `AgentRegistry` and a `Router`; `Gateway.layerMemory(config)`
 * provides the in-memory ones (one node), `Gateway.layerRedis` those of a cluster over Redis, and
 * `Gateway.layerFromConfig` picks by `redisUrl`. The gateway's identity is loaded from its key file,
 * created on first start.
 *
 * @since 0.1.0
 */
import { readFile } from "node:fs/promises"
import { createServer } from "node:http"
import { join } from "node:path"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Clock, Context, Effect, Layer, Metric, type Redacted, Schema } from "effect"
import { HttpRouter, HttpServer, HttpServerRequest, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"
import type { Did } from "../protocol/Did.ts"
import * as IdentityFile from "../protocol/IdentityFile.ts"
import * as NodeEd25519 from "../protocol/NodeEd25519.ts"
import * as Admission from "./Admission.ts"
import * as ConnectionGuard from "./ConnectionGuard.ts"
import { AgentRegistry } from "./AgentRegistry.ts"
import { type GatewayConfig, GatewayConfigService } from "./GatewayConfig.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import * as RedisCluster from "./RedisCluster.ts"
import * as RedisConnection from "./RedisConnection.ts"
import { Router } from "./Router.ts"
import * as VerifyPool from "./VerifyPool.ts"
import * as WebSocketServer from "./WebSocketServer.ts"

/** The configuration cannot work (e.g. a session timeout not over twice the heartbeat). */
export class InvalidGatewayConfig extends Schema.TaggedError<InvalidGatewayConfig>()("InvalidGatewayConfig", {
  reason: Schema.String
}) {
  override get message() {
    return `invalid gateway configuration: ${this.reason}`
  }
}

/** A running gateway: where agents dial it and who it is. */
export class Gateway extends Context.Service<Gateway, {
  /** The `ws://host:port/ws` URL it listens on (on the loopback address when it listens on all). */
  readonly url: string
  /** The base `http://host:port` URL of its HTTP endpoints. */
  readonly httpUrl: string
  readonly did: Did
}>()("aiconexus/gateway/Gateway") {}

const isLoopback = (host: string): boolean =>
  host === "localhost" || host === "::1" || host.startsWith("127.") || host === "::ffff:127.0.0.1"

// Each reason names the setting and its environment variable (and flag), so it can be fixed.
const validate = (config: GatewayConfig) => {
  if (!Number.isInteger(config.port) || config.port < 0 || config.port > 65535) {
    return Effect.fail(new InvalidGatewayConfig({ reason: `port (AICONEXUS_PORT, --port) must be 0-65535, not ${config.port}` }))
  }
  if (config.verifyWorkers !== undefined && (!Number.isInteger(config.verifyWorkers) || config.verifyWorkers < 0 || config.verifyWorkers > VerifyPool.MAX_SIZE)) {
    return Effect.fail(new InvalidGatewayConfig({
      reason: `verifyWorkers (AICONEXUS_VERIFY_WORKERS) must be 0-${VerifyPool.MAX_SIZE}, not ${config.verifyWorkers}`
    }))
  }
  if (config.sessionTimeoutMs <= 2 * config.heartbeatIntervalMs) {
    return Effect.fail(new InvalidGatewayConfig({
      reason: `sessionTimeoutMs (AICONEXUS_SESSION_TIMEOUT_MS, ${config.sessionTimeoutMs}) must exceed 2 × heartbeatIntervalMs ` +
        `(AICONEXUS_HEARTBEAT_INTERVAL_MS, ${config.heartbeatIntervalMs})`
    }))
  }
  return Effect.void
}

const AgentsQuery = Schema.Struct({
  capability: Schema.optionalKey(Schema.String),
  tag: Schema.optionalKey(Schema.String),
  limit: Schema.optionalKey(Schema.NumberFromString.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 100 }))),
  cursor: Schema.optionalKey(Schema.String)
})

const json = (body: unknown, status = 200) => HttpServerResponse.jsonUnsafe(body, { status })

/** The HTTP routes of one gateway (`/ws` is `WebSocketServer`). */
const routes = (config: GatewayConfig, admission: Admission.Admission, startedAt: number) =>
  Effect.gen(function*() {
    const registry = yield* AgentRegistry
    const router = yield* HttpRouter.HttpRouter
    const agentsEnabled = config.agentsEndpoint === "on" || (config.agentsEndpoint === "auto" && isLoopback(config.host))

    yield* router.add("GET", "/health", Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      return json({ status: yield* registry.health, agents: yield* registry.count, uptime_s: Math.floor((now - startedAt) / 1000) })
    }))

    yield* router.add("GET", "/agents", Effect.gen(function*() {
      if (!agentsEnabled) return json({ error: "the /agents endpoint is disabled on this gateway" }, 404)
      const query = yield* HttpServerRequest.schemaSearchParams(AgentsQuery).pipe(Effect.result)
      if (query._tag === "Failure") return json({ error: "bad query: limit is 1-100" }, 400)
      const page = yield* registry.discover({ ...query.success, limit: query.success.limit ?? 50, maxBytes: 4 * 1024 * 1024 }).pipe(
        Effect.result
      )
      if (page._tag === "Failure") return json({ error: "unknown cursor" }, 400)
      return json({
        agents: page.success.agents,
        ...(page.success.nextCursor === undefined ? {} : { next_cursor: page.success.nextCursor })
      })
    }))

    // The browser page (`--web`): read once at start, served from memory.
    if (config.webDir !== undefined) {
      const dir = config.webDir
      const page = yield* Effect.tryPromise({
        try: () => Promise.all([readFile(join(dir, "index.html"), "utf8"), readFile(join(dir, "page.js"), "utf8")]),
        catch: () => new InvalidGatewayConfig({ reason: `no browser page in ${dir} (build it with npm run build:web)` })
      })
      yield* router.add("GET", "/", Effect.succeed(HttpServerResponse.text(page[0], { contentType: "text/html; charset=utf-8" })))
      yield* router.add("GET", "/page.js", Effect.succeed(HttpServerResponse.text(page[1], { contentType: "text/javascript; charset=utf-8" })))
    }

    yield* router.add("GET", "/metrics", Effect.gen(function*() {
      yield* Metric.update(GatewayMetrics.sessions, admission.sessions())
      return HttpServerResponse.text(yield* PrometheusMetrics.format(), { contentType: "text/plain; version=0.0.4" })
    }))
  })

/** A wildcard address (0.0.0.0, ::) cannot be dialed: the URL names the loopback address instead. */
const dialable = (url: string): string => url.replace(/^(\w+:\/\/)(?:0\.0\.0\.0|\[::\])(?=:\d+$)/, (_, scheme: string) => `${scheme}${url.includes("[::]") ? "[::1]" : "127.0.0.1"}`)

/** Loads (or creates) the gateway's identity from its key file. */
const loadIdentity = (config: GatewayConfig) =>
  Effect.gen(function*() {
    const file = config.keyFile ?? `${config.dataDir.replace(/\/+$/, "")}/gateway-identity.json`
    return yield* IdentityFile.loadOrCreate(file)
  })

/** The listen backlog: connections waiting for the gateway to accept them. */
const LISTEN_BACKLOG = 4096

/** A gateway node on the current metrics registry; it needs a directory and a router. */
const node = (config: GatewayConfig) =>
  Layer.unwrap(Effect.gen(function*() {
    yield* validate(config)
    const identity = yield* loadIdentity(config)
    const startedAt = yield* Clock.currentTimeMillis
    const httpServer = createServer(ConnectionGuard.serverOptions(config))
    const admission = Admission.make(config)
    const server = NodeHttpServer.layer(() => httpServer, {
      host: config.host,
      port: config.port,
      // Connections the kernel holds for the gateway to accept (Node's default is 511): a herd of
      // agents reconnecting at once, while the event loop is busy registering the first of them,
      // overflowed 511 and had its SYNs dropped (retried by the client's kernel 1 s, 3 s, 7 s later).
      // The kernel caps it at net.core.somaxconn.
      backlog: LISTEN_BACKLOG,
      // The default shutdown waits (up to 20 s) for open connections to end by themselves; the
      // gateway's own shutdown below ends its sessions at once instead.
      disablePreemptiveShutdown: true
    })
    const gateway = Layer.effect(Gateway, Effect.gen(function*() {
      const httpUrl = dialable(HttpServer.formatAddress((yield* HttpServer.HttpServer).address))
      return Gateway.of({ url: `${httpUrl.replace(/^http/, "ws")}/ws`, httpUrl, did: identity.did })
    }))
    const app = HttpRouter.serve(Layer.effectDiscard(routes(config, admission, startedAt)).pipe(Layer.provide(HttpRouter.layer)), {
      disableLogger: true,
      disableListenLog: true
    })
    // After `app`, whose server registered its own upgrade handling, which `/ws` replaces.
    const sessions = Layer.effectDiscard(WebSocketServer.serve(httpServer, { config, identity, admission }))
    // Shutdown, in this order: stop accepting connections; close the sessions with 1001; release
    // `app`; drop connections still waiting for an upgrade, which agents reconnecting at once
    // may have opened, so the server can close.
    const stopAccepting = Layer.effectDiscard(Effect.andThen(
      GatewayMetrics.initialize({ cluster: config.redisUrl !== undefined }),
      Effect.addFinalizer(() => Effect.sync(() => httpServer.close()))
    ))
    const dropLeftovers = Layer.effectDiscard(Effect.addFinalizer(() => Effect.sync(() => httpServer.closeAllConnections())))
    return stopAccepting.pipe(
      Layer.provideMerge(sessions),
      Layer.provideMerge(Layer.mergeAll(app, gateway)),
      Layer.provideMerge(dropLeftovers),
      Layer.provide(server),
      Layer.provide(Layer.succeed(GatewayConfigService, config)),
      // No threads when relayed frames are not verified.
      Layer.provide(VerifyPool.VerifyPool.layer(config.verifyRelaySignatures ? config.verifyWorkers : 0, config.verifyOffload)),
      Layer.provide(NodeEd25519.layer)
    )
  }).pipe(Effect.provide(NodeServices.layer)))

/** Metrics of one gateway (its sessions, and its directory and routing when they come with it), apart from others in the process. */
const ownMetrics = () => Layer.sync(Metric.MetricRegistry, () => new Map())

/**
 * A gateway node with its own metrics; it needs a directory and a router (`layerMemory` and
 * `layerRedis` bring theirs, which then count into the same metrics).
 */
export const layer = (config: GatewayConfig) => node(config).pipe(Layer.provide(ownMetrics()))

/** A single gateway node with its directory and routing in memory. */
export const layerMemory = (config: GatewayConfig) =>
  node(config).pipe(Layer.provide(Layer.mergeAll(AgentRegistry.layerMemory, Router.layerMemory)), Layer.provide(ownMetrics()))

/** A node of the cluster on the Redis at `redisUrl`, sharing the directory and routing with its other nodes. */
export const layerRedis = (config: GatewayConfig, redisUrl: Redacted.Redacted<string>) =>
  node(config).pipe(
    Layer.provide(RedisCluster.layer({
      nodeId: config.nodeId ?? globalThis.crypto.randomUUID(),
      keyPrefix: config.redisKeyPrefix,
      presenceTtlMs: config.sessionTimeoutMs
    })),
    Layer.provide(RedisConnection.layer(config, redisUrl)),
    Layer.provide(ownMetrics())
  )

/** The node the configuration asks for: a cluster node when `redisUrl` is set, else in-memory. */
export const layerFromConfig = (config: GatewayConfig) =>
  config.redisUrl === undefined ? layerMemory(config) : layerRedis(config, config.redisUrl)
