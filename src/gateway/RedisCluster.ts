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
 *   channel (NodeChannel.ts); the frames for one node within one event-loop turn go out as one
 *   PUBLISH, and while a PUBLISH to a node is unanswered the frames for it wait and go out
 *   together after its answer (unless a batch fills; optionally also until `minPublishIntervalMs`
 *   after the last one): under load frames share PUBLISHes, and a lone frame waits for nothing. A PUBLISH that
 *   reached no subscriber means nobody has the agent (UNKNOWN_AGENT). Delivery stays at most
 *   once: see docs/deployment.md for where a frame can be lost.
 * - The relay's hot path takes no fiber or Effect per frame: `lookupNow` and `routeNow` answer
 *   from this node's sessions and the cached locations, PUBLISH answers come back to a callback,
 *   and frames published to this node are delivered from the subscription's callback.
 * - Redis unreachable: the node serves its own agents, reports "degraded", counts the errors, and
 *   once Redis answers again re-publishes its agents (a registration made meanwhile gets its epoch
 *   then) and clears its degraded state. When its connection to Redis is ready again after a loss
 *   (`RedisRestored`: Redis may have restarted empty, even with no command failing meanwhile), the
 *   node subscribes again at once and then re-publishes its agents, rather than at the next
 *   refresh.
 *
 * @since 0.1.0
 */
import { Clock, Context, Deferred, Effect, Fiber, Layer, Metric, Option, Stream } from "effect"
import * as Redis from "effect/persistence/Redis"
import { type AgentEntry, AgentRegistry, cursorAfter, discoverIn, isListedFor, paginate, parseCursor } from "./AgentRegistry.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import { RedisPubSub, RedisRestored } from "./RedisConnection.ts"
import * as NodeChannel from "./NodeChannel.ts"
import * as RedisDirectory from "./RedisDirectory.ts"
import { type Delivery, makeLocal, Router } from "./Router.ts"

/** How a node takes part in a cluster. */
export interface ClusterOptions {
  /** This node's name: the suffix of its routing channel. Unique per running node. */
  readonly nodeId: string
  /** The prefix of every key and channel. */
  readonly keyPrefix: string
  /** How long an agent stays in the directory without its node refreshing it. */
  readonly presenceTtlMs: number
  /**
   * The least time between two PUBLISHes to one node (default `MIN_PUBLISH_INTERVAL_MS`): frames
   * for it meanwhile wait and share the next one, unless their batch fills.
   */
  readonly minPublishIntervalMs?: number | undefined
}

/**
 * The default least time between two PUBLISHes to one node: none. Frames still share PUBLISHes
 * under load, as one waits for the answer of the one before. A longer interval batches more but
 * waits on a timer: on the bench's 2-core machine (docs/deployment.md) 1 ms did not lower the
 * CPU per message, the timer's wakeup costing about what the PUBLISHes saved.
 */
export const MIN_PUBLISH_INTERVAL_MS = 0

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
/** Held agents a refresh re-claims per Redis round trip. */
const CLAIM_BATCH = 256
/** Characters of frames one PUBLISH carries at most (beyond, the batch goes out and a new one starts). */
const MAX_BATCH_CHARS = 1024 * 1024
/** How long a node counts as listening after a PUBLISH reached it: frames for it meanwhile do not wait for their PUBLISH's answer. */
const LIVE_NODE_TTL_MS = 1000
const LIVE_NODES_MAX = 1000
/**
 * Frames published without waiting whose PUBLISH is not answered yet, at most (all nodes): past
 * it, senders wait for their frame's PUBLISH again, which slows them to what Redis takes.
 */
const MAX_UNANSWERED_FRAMES = 4096

/** Frames waiting for this turn's PUBLISH to one node, and how to tell each sender what became of its frame. */
interface Batch {
  readonly frames: Array<NodeChannel.Addressed>
  readonly done: Array<(delivery: Delivery) => void>
  chars: number
}

/** The PUBLISHes to one node: the batch waiting to go, and what it waits for. */
interface Outlet {
  batch: Batch | undefined
  /** Its PUBLISHes not answered yet (more than one only when batches filled up). */
  inFlight: number
  /** When its last PUBLISH went out (`performance.now()`). */
  lastAt: number
  /** Its batch goes out at the end of this turn or by a timer. */
  scheduled: boolean
}

/** An agent whose session is on this node. */
interface LocalAgent {
  readonly entry: AgentEntry
  /** Its registration epoch; undefined while it waits for Redis to hand one out. */
  epoch: number | undefined
}

const make = Effect.fnUntraced(function*(options: ClusterOptions) {
  const redis = yield* Redis.Redis
  const pubSub = yield* RedisPubSub
  const store = RedisDirectory.make(redis, options.keyPrefix)
  const { nodeId, presenceTtlMs } = options
  const minPublishIntervalMs = options.minPublishIntervalMs ?? MIN_PUBLISH_INTERVAL_MS
  const local = new Map<string, LocalAgent>()
  const sessions = makeLocal()
  const endpoints = sessions.endpoints
  const locations = new Map<string, { readonly located: RedisDirectory.Located; readonly until: number }>()
  let degraded = false
  /** When this node last renewed its agents' epoch counters' TTL (registrations set it anew). */
  let epochsRenewedAt = yield* Clock.currentTimeMillis
  const clock = yield* Clock.Clock
  const services = yield* Effect.context<never>()
  const runFork = Effect.runForkWith(services)

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

  /**
   * Re-claims held agents `CLAIM_BATCH` to a round trip; those the store lost (or has an older
   * epoch of) are re-published one by one, those a newer registration holds are replaced.
   */
  const reclaimHeld = (agents: ReadonlyArray<LocalAgent & { epoch: number }>, now: number, renewEpochs: boolean) =>
    Effect.gen(function*() {
      const held = agents.map((agent) => ({ did: agent.entry.did, sessionId: agent.entry.sessionId, epoch: agent.epoch }))
      const claims = yield* store.claimHeld(held, presenceTtlMs, now, renewEpochs)
      const lost: Array<LocalAgent> = []
      for (let i = 0; i < agents.length; i++) {
        const agent = agents[i]!
        if (claims[i] === "refreshed" || local.get(agent.entry.did) !== agent) continue
        if (claims[i] === "replaced") yield* evictLocal(agent.entry.did, agent.entry.sessionId)
        else lost.push(agent)
      }
      yield* Effect.forEach(lost, (agent) => reclaim(agent, now), { discard: true })
    })

  /** Re-claims every local agent and sweeps expired ones; clears the degraded state on success. */
  const refresh = Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const held: Array<LocalAgent & { epoch: number }> = []
    const pending: Array<LocalAgent> = []
    for (const agent of local.values()) {
      if (agent.epoch === undefined) pending.push(agent)
      else held.push(agent as LocalAgent & { epoch: number })
    }
    const batches = Array.from({ length: Math.ceil(held.length / CLAIM_BATCH) }, (_, i) => held.slice(i * CLAIM_BATCH, (i + 1) * CLAIM_BATCH))
    // Epoch counters last a day: their TTL is renewed hourly, not at every refresh (a registration sets it too).
    const renewEpochs = now - epochsRenewedAt >= RedisDirectory.EPOCH_REFRESH_MS
    yield* Effect.forEach(batches, (batch) => reclaimHeld(batch, now, renewEpochs), { concurrency: 4, discard: true })
    if (renewEpochs) epochsRenewedAt = now
    yield* Effect.forEach(pending, (agent) => reclaim(agent, now), { concurrency: REFRESH_CONCURRENCY, discard: true })
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

  /** Where `did` is, from the cache while it is fresh. */
  const cachedLocation = (did: string): RedisDirectory.Located | undefined => {
    const cached = locations.get(did)
    return cached !== undefined && cached.until > clock.currentTimeMillisUnsafe() ? cached.located : undefined
  }

  const locate = (did: string): Effect.Effect<Option.Option<RedisDirectory.Located>> =>
    Effect.suspend(() => {
      const cached = cachedLocation(did)
      return cached === undefined ? lookupLocation(did) : Effect.succeed(Option.some(cached))
    })

  const lookupLocation = (did: string): Effect.Effect<Option.Option<RedisDirectory.Located>> =>
    Effect.gen(function*() {
      const found = Option.flatten(yield* attempt("lookup", store.lookup(did)))
      const now = clock.currentTimeMillisUnsafe()
      if (Option.isSome(found)) {
        if (locations.size >= LOCATIONS_MAX) locations.clear()
        locations.set(did, { located: found.value, until: now + LOCATION_TTL_MS })
      } else {
        locations.delete(did)
      }
      return found
    })

  /** Hands the frames of a message published to this node to the local sessions they are for, at once; junk is dropped (and counted). */
  const onFrames = (message: string): void => {
    try {
      deliverFrames(message)
    } catch (defect) {
      // A bug must not break the subscription's connection: logged, and the node goes on.
      runFork(Effect.logError("delivering frames published to this node failed", defect))
    }
  }

  const deliverFrames = (message: string): void => {
    const frames = NodeChannel.decode(message)
    if (frames === undefined) {
      GatewayMetrics.clusterFrames("dropped").updateUnsafe(1, services)
      return
    }
    let delivered = 0
    for (const { frame, to } of frames) if (endpoints.get(to)?.deliver(frame) === "delivered") delivered++
    if (delivered > 0) GatewayMetrics.clusterFrames("delivered").updateUnsafe(delivered, services)
    if (delivered < frames.length) GatewayMetrics.clusterFrames("dropped").updateUnsafe(frames.length - delivered, services)
  }

  /**
   * Follows a channel for as long as the node runs, subscribing again after a failure; `handle`
   * gets each message as it arrives. `subscribed` runs each time its subscription is in place.
   */
  const follow = (channel: string, handle: (message: string) => void, subscribed: Effect.Effect<void>) =>
    Effect.gen(function*() {
      while (true) {
        yield* Effect.scoped(Effect.gen(function*() {
          const lost = yield* pubSub.subscribe(channel, handle)
          // Announcements may have been missed while unsubscribed.
          locations.clear()
          yield* subscribed
          return yield* lost
        })).pipe(Effect.catch((error) => storeFailed("subscribe", error)))
        yield* Effect.sleep(RECOVERY_INTERVAL_MS)
      }
    })

  /** This node's frames and the cluster's announcements (an announcement may replace a session: an Effect of its own). */
  const followBoth = (subscribed: Effect.Effect<void>) =>
    Effect.all([
      follow(store.nodeChannel(nodeId), onFrames, subscribed),
      follow(store.registrationsChannel, (message) => void runFork(onRegistration(message)), subscribed)
    ], { concurrency: 2, discard: true })

  let followers = yield* Effect.forkScoped(followBoth(Effect.void))

  // ---------------------------------------------------------------------------
  // Publishing frames to other nodes, one PUBLISH per node and event-loop turn
  // ---------------------------------------------------------------------------

  /** Per node: the frames waiting for its next PUBLISH, and when that may go out. */
  const outlets = new Map<string, Outlet>()
  /** Nodes whose batch goes out at the end of this turn. */
  const due = new Set<string>()
  /** Nodes whose channel had a subscriber at the last PUBLISH, until when they count as listening. */
  const liveNodes = new Map<string, number>()
  let unanswered = 0

  /**
   * Publishes one batch. If the node's channel had a subscriber every frame in it is delivered;
   * if not, the node is gone with its agents: frames that waited get "unknown", those that did
   * not are lost (at most once; counted).
   */
  const publishBatch = (node: string, outlet: Outlet, batch: Batch): void => {
    outlet.inFlight++
    outlet.lastAt = performance.now()
    pubSub.publish(store.nodeChannel(node), NodeChannel.encode(batch.frames), (receivers) => {
      outlet.inFlight--
      if (typeof receivers !== "number") runFork(storeFailed("publish", receivers))
      const reached = typeof receivers === "number" && receivers > 0
      const unwaited = batch.frames.length - batch.done.length
      unanswered -= unwaited
      if (reached) {
        // Node names are per start: forget the dead ones now and then.
        if (liveNodes.size >= LIVE_NODES_MAX) liveNodes.clear()
        liveNodes.set(node, clock.currentTimeMillisUnsafe() + LIVE_NODE_TTL_MS)
        GatewayMetrics.clusterFrames("sent").updateUnsafe(batch.frames.length, services)
      } else {
        liveNodes.delete(node)
        for (const [did, cached] of locations) if (cached.located.node === node) locations.delete(did)
        if (unwaited > 0) GatewayMetrics.clusterFrames("lost").updateUnsafe(unwaited, services)
      }
      for (const done of batch.done) done(reached ? "delivered" : "unknown")
      // The frames that waited for this answer go out next.
      schedule(node, outlet)
    })
  }

  /**
   * Sends the node's waiting batch as soon as it may: at the end of this turn, or once the
   * interval since its last PUBLISH is over; not while a PUBLISH to it is unanswered (its answer
   * schedules the next).
   */
  const schedule = (node: string, outlet: Outlet): void => {
    if (outlet.batch === undefined || outlet.scheduled || outlet.inFlight > 0) return
    outlet.scheduled = true
    const wait = minPublishIntervalMs - (performance.now() - outlet.lastAt)
    if (wait > 0) {
      setTimeout(() => publishWaiting(node, outlet), wait)
      return
    }
    if (due.size === 0) setImmediate(flush)
    due.add(node)
  }

  const publishWaiting = (node: string, outlet: Outlet): void => {
    outlet.scheduled = false
    const waiting = outlet.batch
    if (waiting === undefined || outlet.inFlight > 0) return
    outlet.batch = undefined
    publishBatch(node, outlet, waiting)
  }

  const flush = () => {
    for (const node of due) {
      const outlet = outlets.get(node)
      if (outlet !== undefined) publishWaiting(node, outlet)
    }
    due.clear()
  }

  const outletOf = (node: string): Outlet => {
    let outlet = outlets.get(node)
    if (outlet === undefined) {
      // Node names are per start: forget idle outlets of gone nodes now and then.
      if (outlets.size >= LIVE_NODES_MAX) {
        for (const [name, idle] of outlets) if (idle.batch === undefined && idle.inFlight === 0 && !idle.scheduled) outlets.delete(name)
      }
      outlets.set(node, outlet = { batch: undefined, inFlight: 0, lastAt: Number.NEGATIVE_INFINITY, scheduled: false })
    }
    return outlet
  }

  /** Adds a frame to the batch waiting for `node` (in order: one connection carries every PUBLISH); a full batch goes out at once. */
  const enqueue = (node: string, to: string, frame: string, done: ((delivery: Delivery) => void) | undefined) => {
    const outlet = outletOf(node)
    let batch = outlet.batch
    if (batch !== undefined && (batch.frames.length >= NodeChannel.MAX_BATCH || batch.chars + frame.length > MAX_BATCH_CHARS)) {
      outlet.batch = undefined
      publishBatch(node, outlet, batch)
      batch = undefined
    }
    if (batch === undefined) outlet.batch = batch = { frames: [], done: [], chars: 0 }
    batch.frames.push({ to, frame })
    batch.chars += frame.length
    if (done === undefined) unanswered++
    else batch.done.push(done)
    schedule(node, outlet)
  }

  /**
   * Publishes a frame for an agent on `node`. To a node that answered within LIVE_NODE_TTL_MS it is
   * delivered at once (the PUBLISH goes out this turn); otherwise, or with too many frames
   * unanswered, the sender waits for the PUBLISH's answer. The outbox and the unanswered frames
   * are bounded: a waiting session handles no other frame meanwhile.
   */
  const publishFrame = (node: string, to: string, frame: string): Effect.Effect<Delivery> =>
    publishFrameNow(node, to, frame) === "delivered" ? Effect.succeed("delivered") :
      Effect.callback<Delivery>((resume) => enqueue(node, to, frame, (delivery) => resume(Effect.succeed(delivery))))

  /** `publishFrame` when the frame need not wait for its PUBLISH's answer (then it is "delivered"), else `undefined`. */
  const publishFrameNow = (node: string, to: string, frame: string): "delivered" | undefined => {
    const live = liveNodes.get(node)
    if (live === undefined || live <= clock.currentTimeMillisUnsafe() || unanswered >= MAX_UNANSWERED_FRAMES) return undefined
    enqueue(node, to, frame, undefined)
    return "delivered"
  }
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
    // A local agent, or a remote one whose location is cached; else `lookup` asks Redis.
    lookupNow: (did) => {
      const entry = local.get(did)?.entry ?? cachedLocation(did)?.entry
      return entry === undefined ? undefined : Option.some(entry)
    },
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
        const cached = cachedLocation(to)
        if (cached !== undefined) return cached.node === nodeId ? Effect.succeed("unknown" as const) : publishFrame(cached.node, to, frame)
        return Effect.flatMap(locate(to), (located) =>
          Option.isNone(located) || located.value.node === nodeId ? Effect.succeed("unknown" as const) : publishFrame(located.value.node, to, frame))
      }),
    // A session of this node, or a cached location on a node that answered lately; else `route`.
    routeNow: (to, frame) => {
      if (endpoints.has(to)) return sessions.routeNow(to, frame)
      const cached = cachedLocation(to)
      if (cached === undefined) return undefined
      return cached.node === nodeId ? "unknown" : publishFrameNow(cached.node, to, frame)
    },
    evict: evictLocal
  })

  return Context.make(AgentRegistry, registry).pipe(Context.add(Router, router))
})

/** The directory and routing of one cluster node; needs a `Redis` connection. */
export const layer = (options: ClusterOptions): Layer.Layer<AgentRegistry | Router, never, Redis.Redis | RedisPubSub> =>
  Layer.effectContext(make(options))
