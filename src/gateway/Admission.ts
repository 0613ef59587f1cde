/**
 * Admission of WebSocket upgrades: the session cap (503) and the per-IP limits (429), decided
 * before any WebSocket work is done.
 *
 * An address whose sessions the gateway keeps closing for abuse (`isAbuseClose`: too many refused
 * frames, over the rate limit, too large, not reading) is refused for a while: each such close
 * takes a token from the address's abuse bucket (`AICONEXUS_ABUSE_CLOSES_PER_IP_*`); until it is
 * full again every upgrade from that address takes a token too, and with none left gets 429. Sessions
 * already open when the first abuse close came are not counted at the door, so they are closed in
 * turn without new ones replacing them faster than the bucket's rate. Without it a host that gets its sessions closed
 * could open fresh ones at the handshake rate, each with fresh per-session budgets (a fresh DID
 * brings full rate buckets), so the work one address makes the gateway do per second would be the
 * handshake rate times a session's whole allowance.
 *
 * @since 0.1.0
 */
import { CloseCode } from "../protocol/GatewaySocket.ts"
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

/** Close codes the gateway closes a session with because of what the client did, not by its own choice. */
const ABUSE_CLOSES: ReadonlySet<number> = new Set([CloseCode.protocolError, CloseCode.rateLimited, CloseCode.tooBig])

/** Whether the gateway closing a session with `code` is charged to the client's address. */
export const isAbuseClose = (code: number): boolean => ABUSE_CLOSES.has(code)

/** The admission state of one gateway node. */
export const make = (config: GatewayConfig) => {
  const connections = new Map<string, number>()
  const handshakes = TokenBucket.keyed(config.handshakeRatePerIp, 100_000)
  const abuse = TokenBucket.keyed(config.abuseClosesPerIp, 100_000)
  const trustedProxies = new Set(config.trustedProxies.map(normalizeIp))
  let sessions = 0
  return {
    trustedProxies,
    /** Admits a connection from `ip` (counting it), or says how to refuse it. */
    admit: (ip: string, now: number): Decision => {
      if (sessions >= config.maxSessions) return 503
      const open = connections.get(ip) ?? 0
      if (open >= config.maxConnectionsPerIp) return 429
      // On probation (an abuse close not yet refilled): every new session costs a token, so an
      // address that gets its sessions closed opens at most the bucket's rate of new ones.
      if (!abuse.isFull(ip, now) && !abuse.take(ip, now)) return 429
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
    /** The gateway closed a session of `ip` for abuse (`isAbuseClose`), or dropped it for not reading: one token of its abuse bucket. */
    penalize: (ip: string, now: number): void => void abuse.take(ip, now),
    sessions: (): number => sessions
  }
}

/** The admission state of one gateway node. */
export type Admission = ReturnType<typeof make>
