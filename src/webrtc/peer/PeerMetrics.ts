/**
 * An agent's peer-to-peer metrics: connections, connect time, data channel traffic, retries and
 * errors. `PrometheusMetrics.format()` renders them (`agent listen --metrics-port`).
 *
 * Labels come from small fixed sets (roles, error tags, protocol error codes), never DIDs,
 * channel labels or other values a peer chooses.
 *
 * @since 0.1.0
 */
import { Context, Metric } from "effect"
import { ErrorCode } from "../../protocol/ErrorCode.ts"
import { byLabel } from "../../util/MetricByLabel.ts"
import type { SelectedPair } from "./Transport.ts"

/** Peer connections opened, by our role (`offerer` dialled out, `answerer` was dialled). */
export const connections = byLabel((role: "offerer" | "answerer") =>
  Metric.counter("aiconexus_agent_peer_connections_total", {
    description: "Peer connections opened, by role",
    incremental: true,
    attributes: { role }
  }))

/** Peer connections open now. */
export const activeConnections = Metric.gauge("aiconexus_agent_peer_connections_active", {
  description: "Peer connections open now"
})

/** Seconds from `connect` to an open control channel, retries included. */
export const connectSeconds = Metric.histogram("aiconexus_agent_connect_seconds", {
  description: "Seconds from connect to an open control channel",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 2, count: 14 })
})

/** Connection attempts made again after an early failure. */
export const connectRetries = Metric.counter("aiconexus_agent_connect_retries_total", {
  description: "Connection attempts retried after an early failure",
  incremental: true
})

/** Failed `connect` calls, by error tag. */
export const connectErrors = byLabel((tag: "ConnectTimeout" | "ConnectionRefused" | "ConnectFailed") =>
  Metric.counter("aiconexus_agent_connect_errors_total", {
    description: "Failed connects, by error",
    incremental: true,
    attributes: { error: tag }
  }))

/** Data channel messages, by direction. */
export const messages = byLabel((direction: "sent" | "received") =>
  Metric.counter("aiconexus_agent_messages_total", {
    description: "Data channel messages, by direction",
    incremental: true,
    attributes: { direction }
  }))

/** Data channel payload bytes, by direction. */
export const bytes = byLabel((direction: "sent" | "received") =>
  Metric.counter("aiconexus_agent_bytes_total", {
    description: "Data channel payload bytes, by direction",
    incremental: true,
    attributes: { direction }
  }))

/** Data channel traffic as plain numbers: a data channel adds to them per message. */
export interface Traffic {
  messagesSent: number
  messagesReceived: number
  bytesSent: number
  bytesReceived: number
}

const trafficByRegistry = new WeakMap<object, Traffic>()

/**
 * The traffic of the metric registry in `context`. The first time, `messages` and `bytes` are
 * registered there as series read from it when metrics are snapshotted: four metric updates per
 * message cost more than the message's own path (about 0.1 µs each, counted in the RTT benchmark),
 * adding to a number costs nothing. The series carry the contextual attributes of that first time.
 */
export const traffic = (context: Context.Context<never>): Traffic => {
  const registry = Context.get(context, Metric.MetricRegistry)
  const known = trafficByRegistry.get(registry)
  if (known !== undefined) return known
  const counts: Traffic = { messagesSent: 0, messagesReceived: 0, bytesSent: 0, bytesReceived: 0 }
  const readFrom = (metric: Metric.Counter<number>, read: () => number) =>
    Metric.registerUnsafe(metric, context, { get: () => ({ count: read(), incremental: true }), update: () => {}, modify: () => {} })
  readFrom(messages("sent"), () => counts.messagesSent)
  readFrom(messages("received"), () => counts.messagesReceived)
  readFrom(bytes("sent"), () => counts.bytesSent)
  readFrom(bytes("received"), () => counts.bytesReceived)
  trafficByRegistry.set(registry, counts)
  return counts
}

const knownCodes: ReadonlySet<string> = new Set(ErrorCode.literals)

const requestErrorsByCode = byLabel((code: string) =>
  Metric.counter("aiconexus_agent_request_errors_total", {
    description: "Capability calls that failed, by error code",
    incremental: true,
    attributes: { code }
  }))

/**
 * Capability calls that failed, by error code. The code may come from the peer: one outside the
 * protocol's set counts as OTHER, so a peer cannot grow the label set.
 */
export const requestErrors = (code: string) => requestErrorsByCode(knownCodes.has(code) ? code : "OTHER")

/** Links recovered after their path broke, by how (or `failed`: every attempt failed). */
export const recoveries = byLabel((outcome: "ice_restart" | "rebuild" | "failed") =>
  Metric.counter("aiconexus_agent_peer_recoveries_total", {
    description: "Links recovered after their network path broke, by outcome",
    incremental: true,
    attributes: { outcome }
  }))

/**
 * OFFERs for an existing connection that were not applied: from the side that did not offer it
 * (`not_offerer`, PROTOCOL.md 5.2), before it was open (`not_open`), or an ICE restart this stack
 * cannot do (`unsupported`: the offerer then rebuilds the connection).
 */
export const offersRefused = byLabel((reason: "not_offerer" | "not_open" | "unsupported") =>
  Metric.counter("aiconexus_agent_peer_offers_refused_total", {
    description: "OFFERs for an existing connection not applied, by reason",
    incremental: true,
    attributes: { reason }
  }))

/** A candidate type as a label: the four of RFC 8445, relays with how we reach the TURN server. */
export type PathLabel = "host" | "srflx" | "prflx" | "relay" | "relay_udp" | "relay_tcp" | "relay_tls" | "unknown"

const candidateLabel = (type: string | undefined, relayProtocol?: string): PathLabel => {
  if (type === "relay") return relayProtocol === "udp" || relayProtocol === "tcp" || relayProtocol === "tls" ? `relay_${relayProtocol}` : "relay"
  return type === "host" || type === "srflx" || type === "prflx" ? type : "unknown"
}

/** The labels of a selected candidate pair: our side (relays with their protocol) and the peer's. */
export const pathLabels = (pair: SelectedPair | undefined): { readonly local: PathLabel; readonly remote: PathLabel } => ({
  local: candidateLabel(pair?.localType, pair?.relayProtocol),
  remote: candidateLabel(pair?.remoteType)
})

const pathsByLabels = byLabel((key: `${PathLabel} ${PathLabel}`) => {
  const [local, remote] = key.split(" ") as [PathLabel, PathLabel]
  return Metric.counter("aiconexus_agent_peer_paths_total", {
    description: "Opened peer connections, by the selected candidate pair's types (local, remote)",
    incremental: true,
    attributes: { local, remote }
  })
})

/** Counts an opened connection by the path ICE selected (host, srflx, prflx or relay on each side). */
export const paths = (pair: SelectedPair | undefined) => {
  const { local, remote } = pathLabels(pair)
  return pathsByLabels(`${local} ${remote}`)
}

/**
 * Limits a peer reached at this agent, by which: a data channel's receive inbox (the channel
 * closed), a session's intent inbox (the session closed), sessions waiting to be taken, sessions
 * per peer or in all (the session refused), concurrent requests per peer (the request refused).
 */
export const overloads = byLabel((limit: "channel_inbox" | "intent_inbox" | "sessions_waiting" | "sessions_per_peer" | "sessions_total" | "requests_per_peer") =>
  Metric.counter("aiconexus_agent_peer_limits_reached_total", {
    description: "Per-peer limits reached at this agent, by limit",
    incremental: true,
    attributes: { limit }
  }))
