/**
 * Routing frames to registered agents' sessions, wherever those sessions live.
 *
 * A service, so a gateway cluster can deliver to sessions on other nodes; the in-memory Layer
 * serves one node. Delivery is at most once and unacknowledged (PROTOCOL.md 4.3).
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer } from "effect"

/** What became of one frame handed to a session. */
export type Delivery =
  /** Written to the agent's socket. */
  | "delivered"
  /** No session for that DID. */
  | "unknown"
  /** The agent receives faster than its per-destination rate allows. */
  | "rate_limited"
  /** The agent does not read: too many bytes are already queued towards it. */
  | "congested"

/** A session on this node, as the router sees it. */
export interface Endpoint {
  readonly sessionId: string
  /** Hands a frame to the session's socket, at once (a local session needs no Effect for it). */
  readonly deliver: (frame: string) => Exclude<Delivery, "unknown">
  /** Tells the session that a newer registration of its DID replaced it. */
  readonly replaced: Effect.Effect<void>
}

/** Delivers frames to agents by DID. */
export class Router extends Context.Service<Router, {
  /** Makes a session reachable under its DID. */
  readonly attach: (did: string, endpoint: Endpoint) => Effect.Effect<void>
  /** Removes a session, if the DID still points at it. */
  readonly detach: (did: string, sessionId: string) => Effect.Effect<void>
  /** Delivers one frame to the agent `to`. */
  readonly route: (to: string, frame: string) => Effect.Effect<Delivery>
  /** `route` without an Effect when it can be done at once (a session of this node), else `undefined` (use `route`). */
  readonly routeNow?: (to: string, frame: string) => Delivery | undefined
  /** Tells the session `sessionId` of `did` that it was replaced (it closes with 4001). */
  readonly evict: (did: string, sessionId: string) => Effect.Effect<void>
}>()("aiconexus/gateway/Router") {
  /** A router for the sessions of this process (one gateway node). */
  static readonly layerMemory: Layer.Layer<Router> = Layer.sync(Router, () => {
    const { endpoints: _, ...router } = makeLocal()
    return router
  })
}

/** The sessions of this node by DID, and the Router operations on them alone (a cluster node adds the others). */
export const makeLocal = () => {
  const endpoints = new Map<string, Endpoint>()
  const routeNow = (to: string, frame: string): Delivery => {
    const endpoint = endpoints.get(to)
    return endpoint === undefined ? "unknown" : endpoint.deliver(frame)
  }
  return {
    endpoints: endpoints as ReadonlyMap<string, Endpoint>,
    attach: (did: string, endpoint: Endpoint) => Effect.sync(() => void endpoints.set(did, endpoint)),
    detach: (did: string, sessionId: string) =>
      Effect.sync(() => {
        if (endpoints.get(did)?.sessionId === sessionId) endpoints.delete(did)
      }),
    route: (to: string, frame: string): Effect.Effect<Delivery> => Effect.sync(() => routeNow(to, frame)),
    routeNow,
    evict: (did: string, sessionId: string) =>
      Effect.suspend(() => {
        const endpoint = endpoints.get(did)
        if (endpoint?.sessionId !== sessionId) return Effect.void
        endpoints.delete(did)
        return endpoint.replaced
      })
  }
}
