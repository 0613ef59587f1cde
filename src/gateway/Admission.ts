/**
 * Admission of WebSocket upgrades: the session cap (503) and the per-IP limits (429), decided
 * before any WebSocket work is done.
 *
 * @since 0.1.0
 */
import type { GatewayConfig } from "./GatewayConfig.ts"
import * as TokenBucket from "./TokenBucket.ts"

/** The answer to an upgrade request: admitted, or the HTTP status to refuse it with. */
export type Decision = "admitted" | 429 | 503

/** IPv4 addresses seen through an IPv6 socket (`::ffff:127.0.0.1`) in their IPv4 form. */
export const normalizeIp = (address: string): string => address.startsWith("::ffff:") ? address.slice(7) : address

/**
 * The client's IP: the socket's peer, unless that peer is a trusted proxy; then the rightmost
 * X-Forwarded-For address that is not itself a trusted proxy.
 */
export const clientIp = (
  remoteAddress: string | undefined,
  forwardedFor: string | undefined,
  trustedProxies: ReadonlySet<string>
): string => {
  let ip = normalizeIp(remoteAddress ?? "unknown")
  if (!trustedProxies.has(ip) || forwardedFor === undefined) return ip
  const hops = forwardedFor.split(",").map((hop) => normalizeIp(hop.trim())).filter((hop) => hop.length > 0)
  while (hops.length > 0 && trustedProxies.has(ip)) ip = hops.pop()!
  return ip
}

/** The admission state of one gateway node. */
export const make = (config: GatewayConfig) => {
  const connections = new Map<string, number>()
  const handshakes = TokenBucket.keyed(config.handshakeRatePerIp, 100_000)
  const trustedProxies = new Set(config.trustedProxies.map(normalizeIp))
  let sessions = 0
  return {
    trustedProxies,
    /** Admits a connection from `ip` (counting it), or says how to refuse it. */
    admit: (ip: string, now: number): Decision => {
      if (sessions >= config.maxSessions) return 503
      const open = connections.get(ip) ?? 0
      if (open >= config.maxConnectionsPerIp) return 429
      if (!handshakes.take(ip, now)) return 429
      connections.set(ip, open + 1)
      sessions++
      return "admitted"
    },
    /** Forgets a connection admitted from `ip`. */
    release: (ip: string): void => {
      const open = connections.get(ip) ?? 0
      if (open <= 1) connections.delete(ip)
      else connections.set(ip, open - 1)
      sessions--
    },
    sessions: (): number => sessions
  }
}

/** The admission state of one gateway node. */
export type Admission = ReturnType<typeof make>
