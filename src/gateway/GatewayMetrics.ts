/**
 * The gateway's metrics, served at `/metrics` in Prometheus text format.
 *
 * Labels are bounded sets (envelope types, error codes, reasons, close codes): never DIDs, IPs or
 * other values a client chooses.
 *
 * @since 0.1.0
 */
import { Effect, Metric } from "effect"
import { byLabel } from "../util/MetricByLabel.ts"

/** Open WebSocket sessions (registered or still in the handshake). */
export const sessions = Metric.gauge("aiconexus_gateway_sessions", { description: "Open WebSocket sessions" })

/** Registered agents on this node (a gauge: changed with `Metric.modify` by ±1; `Metric.update` would set it). */
export const agents = Metric.gauge("aiconexus_gateway_agents", { description: "Agents registered on this node" })

/** Successful registrations. */
export const registrations = Metric.counter("aiconexus_gateway_registrations_total", {
  description: "Successful registrations",
  incremental: true
})

/** Heartbeat frames answered (PROTOCOL.md 4.3; signed PINGs are not counted here). */
export const heartbeats = Metric.counter("aiconexus_gateway_heartbeats_total", {
  description: "Heartbeat frames answered",
  incremental: true
})

/** Frames relayed to another agent, by envelope type. */
export const relayed = byLabel((type: string) =>
  Metric.counter("aiconexus_gateway_frames_relayed_total", {
    description: "Frames relayed between agents, by type",
    incremental: true,
    attributes: { type }
  }))

/** Frames refused, by the protocol error code answered. */
export const rejected = byLabel((code: string) =>
  Metric.counter("aiconexus_gateway_frames_rejected_total", {
    description: "Frames refused, by error code",
    incremental: true,
    attributes: { code }
  }))

/** Relayed frames not delivered, by reason (unknown, rate_limited, congested). */
export const undelivered = byLabel((reason: string) =>
  Metric.counter("aiconexus_gateway_relay_undelivered_total", {
    description: "Relayed frames not delivered, by reason",
    incremental: true,
    attributes: { reason }
  }))

/** WebSocket upgrades refused before the handshake, by HTTP status. */
export const refused = byLabel((status: number) =>
  Metric.counter("aiconexus_gateway_upgrades_refused_total", {
    description: "WebSocket upgrades refused, by HTTP status",
    incremental: true,
    attributes: { status: String(status) }
  }))

/** TCP connections dropped before their upgrade, by reason (per_ip, header_timeout). */
export const dropped = byLabel((reason: string) =>
  Metric.counter("aiconexus_gateway_connections_dropped_total", {
    description: "TCP connections dropped before a WebSocket upgrade, by reason",
    incremental: true,
    attributes: { reason }
  }))

/** Sessions closed by the gateway, by close code. */
export const closed = byLabel((code: number) =>
  Metric.counter("aiconexus_gateway_sessions_closed_total", {
    description: "Sessions closed by the gateway, by WebSocket close code",
    incremental: true,
    attributes: { code: String(code) }
  }))

/** Time from receiving a relayed frame to handing it to the destination's socket. */
export const relayLatency = Metric.histogram("aiconexus_gateway_relay_latency_seconds", {
  description: "Seconds from receiving a relayed frame to writing it to the destination",
  boundaries: Metric.exponentialBoundaries({ start: 0.00001, factor: 2, count: 16 })
})

/** Failed operations on the cluster's shared store (Redis), by operation. */
export const clusterErrors = byLabel((operation: string) =>
  Metric.counter("aiconexus_gateway_cluster_errors_total", {
    description: "Failed operations on the cluster store, by operation",
    incremental: true,
    attributes: { operation }
  }))

/** Frames crossing between cluster nodes, by outcome (sent, delivered, dropped; lost: published without waiting to a node that had gone). */
export const clusterFrames = byLabel((outcome: string) =>
  Metric.counter("aiconexus_gateway_cluster_frames_total", {
    description: "Frames relayed between cluster nodes, by outcome",
    incremental: true,
    attributes: { outcome }
  }))

/** 1 while this node cannot reach the cluster store and serves only its own agents. */
export const clusterDegraded = Metric.gauge("aiconexus_gateway_cluster_degraded", {
  description: "1 while the cluster store is unreachable from this node"
})

/**
 * Puts the series without labels, and the labelled ones whose labels are a known set (relayed
 * types, undelivered reasons), in the registry at 0, so a scrape shows them before the first event.
 */
export const initialize = (options: { readonly cluster: boolean }): Effect.Effect<void> =>
  Effect.gen(function*() {
    yield* Metric.value(sessions)
    yield* Metric.value(agents)
    yield* Metric.value(registrations)
    yield* Metric.value(heartbeats)
    yield* Metric.value(relayLatency)
    for (const type of ["OFFER", "ANSWER", "ICE_CANDIDATE", "BYE"]) yield* Metric.value(relayed(type))
    for (const reason of ["unknown", "rate_limited", "congested"]) yield* Metric.value(undelivered(reason))
    if (options.cluster) yield* Metric.value(clusterDegraded)
  })
