/**
 * A gateway cluster over Redis: the `AgentRegistry` and `Router` of one node, shared with every
 * other node on the same Redis (and key prefix).
 *
 * - Presence: each node re-claims its agents' entries every third of the presence TTL (the session
 *   timeout); a node that dies stops, and its agents leave the directory within the TTL.
 * - Newest registration wins by a per-DID epoch (`INCR`), not by clocks. Every registration is
 *   announced on one channel; a node holding an older session of that DID replaces it
 *   (SESSION_REPLACED). A refresh that finds a newer epoch does the same, so a lost announcement
 *   only delays the replacement.
 * - Routing: a frame for an agent on another node is published, byte for byte, on that node's
 *   channel. A PUBLISH that reached no subscriber means nobody has the agent (UNKNOWN_AGENT).
 *   Delivery stays at most once: see docs/deployment.md for where a frame can be lost.
 * - Redis unreachable: the node serves its own agents, reports "degraded", counts the errors, and
 *   once Redis answers again re-publishes its agents (a registration made meanwhile gets its epoch
 *   then) and clears its degraded state. When its connection to Redis is ready again after a loss
 *   (`RedisRestored`: Redis may have restarted empty, even with no command failing meanwhile), the
 *   node subscribes again at once and then re-publishes its agents, rather than at the next
 *   refresh.
 *
 * @since 0.1.0
 */
import { Clock, Context, Deferred, Effect, Fiber, Layer, Metric, Option, Queue, Stream } from "effect"
import * as Redis from "effect/persistence/Redis"
import { type AgentEntry, AgentRegistry, cursorAfter, discoverIn, isListedFor, paginate, parseCursor } from "./AgentRegistry.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import { RedisRestored } from "./RedisConnection.ts"
import * as RedisDirectory from "./RedisDirectory.ts"
import { makeLocal, Router } from "./Router.ts"

/** How a node takes part in a cluster. */
export interface ClusterOptions {
  /** This node's name: the suffix of its routing channel. Unique per running node. */
  readonly nodeId: string
  /** The prefix of every key and channel. */
  readonly keyPrefix: string
  /** How long an agent stays in the directory without its node refreshing it. */
  readonly presenceTtlMs: number
}

/** How long a node trusts a looked-up location of a remote agent (announcements also clear it). */
const LOCATION_TTL_MS = 1000
const LOCATIONS_MAX = 10_000
/** DIDs read per round trip while paging the directory. */
const PAGE_BATCH = 256
/**
 * DIDs one DISCOVER reads at most: a filter that matches little must not make one request walk a
 * directory of tens of thousands. Past it the page may hold fewer agents than asked, with a cursor.
 */
export const MAX_SCANNED_PER_DISCOVER = 8 * PAGE_BATCH
/** How often a degraded node checks whether Redis answers again. */
const RECOVERY_INTERVAL_MS = 1000
/** How long a node whose Redis connection came back waits for its new subscriptions before re-publishing its agents. */
const RESUBSCRIBE_WAIT_MS = 5000
/** Re-claims in flight at once during a refresh. */
const REFRESH_CONCURRENCY = 32

/** An agent whose session is on this node. */
interface LocalAgent {
  readonly entry: AgentEntry
  /** Its registration epoch; undefined while it waits for Redis to hand one out. */
  epoch: number | undefined
}

const make = Effect.fnUntraced(function*(options: ClusterOptions) {
  const redis = yield* Redis.Redis
  const store = RedisDirectory.make(redis, options.keyPrefix)
  const { nodeId, presenceTtlMs } = options
  const local = new Map<string, LocalAgent>()
  const sessions = makeLocal()
  const endpoints = sessions.endpoints
  const locations = new Map<string, { readonly located: RedisDirectory.Located; readonly until: number }>()
  let degraded = false

  const storeFailed = (operation: string, error: Redis.RedisError) =>
    Effect.gen(function*() {
      yield* Metric.update(GatewayMetrics.clusterErrors(operation), 1)
      if (degraded) return
      degraded = true
      yield* Metric.update(GatewayMetrics.clusterDegraded, 1)
      yield* Effect.logWarning(`cluster store unreachable (${operation}): serving this node's agents only`, error.cause)
    })
  /** Runs a store operation; a failure is counted, degrades the node and reads as None. */
  const attempt = <A>(operation: string, effect: Effect.Effect<A, Redis.RedisError>): Effect.Effect<Option.Option<A>> =>
    effect.pipe(Effect.tapError((error) => storeFailed(operation, error)), Effect.option)

  /** Replaces a session of this node (it gets SESSION_REPLACED and closes with 4001). */
  const evictLocal = sessions.evict

  // ---------------------------------------------------------------------------
  // Registrations
  // ---------------------------------------------------------------------------

  const announce = (did: string, epoch: number, sessionId: string) =>
    Effect.asVoid(attempt("announce", store.publish(store.registrationsChannel, `${did}\n${epoch}\n${sessionId}`)))

  /** Another registration of `did` took epoch `epoch`: older local sessions of it are replaced. */
  const onRegistration = (message: string) => {
    const [did, epochText, sessionId] = message.split("\n")
    const epoch = Number(epochText)
    // Anything else on the channel is not an announcement: it replaces nobody.
    if (did === undefined || sessionId === undefined || !Number.isSafeInteger(epoch)) return Effect.void
    locations.delete(did)
    const agent = local.get(did)
    if (agent === undefined || agent.entry.sessionId === sessionId) return Effect.void
    if (agent.epoch !== undefined && agent.epoch >= epoch) return Effect.void
    return evictLocal(did, agent.entry.sessionId)
  }

  /** Gives a registration made while Redis was unreachable its epoch (it is the newest). */
  const publishPending = (agent: LocalAgent, now: number) =>
    Effect.gen(function*() {
      const { epoch } = yield* store.register(agent.entry, nodeId, presenceTtlMs, now)
      agent.epoch = epoch
      yield* announce(agent.entry.did, epoch, agent.entry.sessionId)
    })

  const reclaim = (agent: LocalAgent, now: number): Effect.Effect<void, Redis.RedisError> =>
    Effect.suspend(() => {
      if (local.get(agent.entry.did) !== agent) return Effect.void
      if (agent.epoch === undefined) return publishPending(agent, now)
      return Effect.flatMap(
        store.claim(agent.entry, agent.epoch, nodeId, presenceTtlMs, now),
        (held) => (held ? Effect.void : evictLocal(agent.entry.did, agent.entry.sessionId))
      )
    })

  /** Re-claims every local agent and sweeps expired ones; clears the degraded state on success. */
  const refresh = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    yield* Effect.forEach([...local.values()], (agent) => reclaim(agent, now), { concurrency: REFRESH_CONCURRENCY, discard: true })
    yield* store.sweep(now)
    if (!degraded) return
    degraded = false
    locations.clear()
    yield* Metric.update(GatewayMetrics.clusterDegraded, 0)
    yield* Effect.logInfo(`cluster store reachable again: ${local.size} local agents re-published`)
  })

  const refreshForever = Effect.gen(function*() {
    while (true) {
      yield* Effect.sleep(degraded ? Math.min(RECOVERY_INTERVAL_MS, presenceTtlMs / 3) : presenceTtlMs / 3)
      yield* Effect.catch(refresh, (error) => storeFailed("refresh", error))
    }
  })

  // ---------------------------------------------------------------------------
  // Routing
  // ---------------------------------------------------------------------------

  const locate = (did: string): Effect.Effect<Option.Option<RedisDirectory.Located>> =>
    Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const cached = locations.get(did)
      if (cached !== undefined && cached.until > now) return Option.some(cached.located)
      const found = Option.flatten(yield* attempt("lookup", store.lookup(did)))
      if (Option.isSome(found)) {
        if (locations.size >= LOCATIONS_MAX) locations.clear()
        locations.set(did, { located: found.value, until: now + LOCATION_TTL_MS })
      } else {
        locations.delete(did)
      }
      return found
    })

  /** Hands a frame published to this node to the local session it is for. */
  const onFrame = (message: string) =>
    Effect.gen(function*() {
      const newline = message.indexOf("\n")
      const endpoint = newline < 0 ? undefined : endpoints.get(message.slice(0, newline))
      const delivery = endpoint === undefined ? "unknown" : endpoint.deliver(message.slice(newline + 1))
      yield* Metric.update(GatewayMetrics.clusterFrames(delivery === "delivered" ? "delivered" : "dropped"), 1)
    })

  /**
   * Follows a channel for as long as the node runs, subscribing again after a failure;
   * `subscribed` runs each time its subscription is in place.
   */
  const follow = (channel: string, handle: (message: string) => Effect.Effect<void>, subscribed: Effect.Effect<void>) =>
    Effect.gen(function*() {
      while (true) {
        yield* Effect.scoped(Effect.gen(function*() {
          const messages = yield* redis.subscribe(channel)
          // Announcements may have been missed while unsubscribed.
          locations.clear()
          yield* subscribed
          while (true) {
            const { message } = yield* Queue.take(messages)
            yield* handle(message)
          }
        })).pipe(Effect.catch((error) => storeFailed("subscribe", error)))
        yield* Effect.sleep(RECOVERY_INTERVAL_MS)
      }
    })

  /** This node's frames and the cluster's announcements. */
  const followBoth = (subscribed: Effect.Effect<void>) =>
    Effect.all([
      follow(store.nodeChannel(nodeId), onFrame, subscribed),
      follow(store.registrationsChannel, onRegistration, subscribed)
    ], { concurrency: 2, discard: true })

  let followers = yield* Effect.forkScoped(followBoth(Effect.void))
  yield* Effect.forkScoped(refreshForever)

  // The connection came back: Redis may have restarted empty. Subscribe again at once (the
  // client's own subscriber connections come back on their reconnection backoff, up to a second
  // later), then re-publish this node's agents, rather than at the next refresh.
  const restored = yield* Effect.serviceOption(RedisRestored)
  if (Option.isSome(restored)) {
    const resubscribeAndRefresh = Effect.gen(function*() {
      yield* Fiber.interrupt(followers)
      const bothSubscribed = yield* Deferred.make<void>()
      let waiting = 2
      const subscribed = Effect.suspend(() => (--waiting === 0 ? Deferred.succeed(bothSubscribed, undefined) : Effect.void))
      followers = yield* Effect.forkScoped(followBoth(subscribed))
      // If Redis is gone again the subscriptions keep retrying on their own; the refresh goes ahead.
      yield* Deferred.await(bothSubscribed).pipe(Effect.timeoutOption(RESUBSCRIBE_WAIT_MS))
      locations.clear()
      yield* Effect.catch(refresh, (error) => storeFailed("refresh", error))
    })
    yield* Effect.forkScoped(Stream.runForEach(restored.value.restored, () => resubscribeAndRefresh))
  }

  const registry = AgentRegistry.of({
    register: (entry) =>
      Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const previousHere = local.get(entry.did)
        const agent: LocalAgent = { entry, epoch: undefined }
        local.set(entry.did, agent)
        locations.delete(entry.did)
        const registered = yield* attempt("register", store.register(entry, nodeId, presenceTtlMs, now))
        if (Option.isSome(registered)) {
          agent.epoch = registered.value.epoch
          yield* announce(entry.did, registered.value.epoch, entry.sessionId)
        }
        // A session of this node is replaced here; one on another node by the announcement.
        if (previousHere !== undefined) return Option.some(previousHere.entry)
        return Option.flatMap(registered, (r) => Option.map(r.previous, (p) => p.entry))
      }),
    unregister: (did, sessionId) =>
      Effect.gen(function*() {
        if (local.get(did)?.entry.sessionId !== sessionId) return false
        local.delete(did)
        // If Redis is unreachable the entry expires with the presence TTL instead.
        yield* attempt("unregister", store.unregister(did, sessionId))
        return true
      }),
    lookup: (did) =>
      Effect.suspend(() => {
        const agent = local.get(did)
        return agent === undefined ? Effect.map(locate(did), Option.map((located) => located.entry)) : Effect.succeed(Option.some(agent.entry))
      }),
    discover: (query) =>
      Effect.gen(function*() {
        const after = query.cursor === undefined ? undefined : yield* parseCursor(query.cursor)
        const found: Array<AgentEntry> = []
        const scanned = yield* attempt("discover", Effect.gen(function*() {
          let from = after ?? ""
          // One match beyond the page tells whether more remain.
          for (let read = 0; found.length <= query.limit; read += PAGE_BATCH) {
            if (read >= MAX_SCANNED_PER_DISCOVER) return from
            const page = yield* store.page(from, PAGE_BATCH)
            for (const { entry } of page.entries) if (isListedFor(entry, query, after)) found.push(entry)
            if (page.last === "") break
            from = page.last
          }
          return undefined
        }))
        if (Option.isNone(scanned)) return yield* discoverIn([...local.values()].map((agent) => agent.entry), query)
        const page = paginate(found, query)
        // Cut short by the scan limit: resume after the last DID read.
        const cut = scanned.value
        return page.nextCursor === undefined && cut !== undefined ? { ...page, nextCursor: cursorAfter(cut) } : page
      }),
    count: Effect.map(attempt("count", store.count), Option.getOrElse(() => local.size)),
    health: Effect.sync(() => (degraded ? "degraded" : "ok"))
  })

  const router = Router.of({
    attach: sessions.attach,
    detach: sessions.detach,
    route: (to, frame) =>
      Effect.suspend(() => {
        if (endpoints.has(to)) return sessions.route(to, frame)
        return Effect.gen(function*() {
          const located = yield* locate(to)
          if (Option.isNone(located) || located.value.node === nodeId) return "unknown" as const
          const receivers = yield* attempt("publish", store.publish(store.nodeChannel(located.value.node), `${to}\n${frame}`))
          if (Option.isNone(receivers) || receivers.value === 0) {
            // Nobody follows that node's channel: it is gone, and so is the agent.
            locations.delete(to)
            return "unknown" as const
          }
          yield* Metric.update(GatewayMetrics.clusterFrames("sent"), 1)
          return "delivered" as const
        })
      }),
    evict: evictLocal
  })

  return Context.make(AgentRegistry, registry).pipe(Context.add(Router, router))
})

/** The directory and routing of one cluster node; needs a `Redis` connection. */
export const layer = (options: ClusterOptions): Layer.Layer<AgentRegistry | Router, never, Redis.Redis> =>
  Layer.effectContext(make(options))
