/**
 * What one agent grants the peers that open sessions with it: how many sessions (per peer and in
 * all), how many wait to be taken by the application, how many requests of one peer run at once,
 * how many INTENTs a session holds unread. Peers are hostile too: each limit is refused or closed
 * with a typed reason the caller sees, never a silent drop (docs/reliability.md).
 *
 * @since 0.1.0
 */
import type { ErrorCode } from "../protocol/ErrorCode.ts"

/** The limits; every one is configurable (`AgentConfig.limits`). */
export interface PeerLimits {
  /** INTENTs a session holds unread; one more closes the session (its `intents` fail with `SessionOverloaded`). */
  readonly maxPendingIntents: number
  /** Sessions opened by peers and not yet taken from `Agent.sessions`; more are refused. */
  readonly maxWaitingSessions: number
  /** Sessions one peer has open with this agent at once (those it opened); more are refused. */
  readonly maxSessionsPerPeer: number
  /** Sessions peers have open with this agent at once, from any DID; more are refused. */
  readonly maxSessions: number
  /** Requests of one peer served at once, over all its sessions; more are answered RATE_LIMITED. */
  readonly maxConcurrentRequestsPerPeer: number
}

export const defaults: PeerLimits = {
  maxPendingIntents: 256,
  maxWaitingSessions: 64,
  maxSessionsPerPeer: 4,
  maxSessions: 256,
  maxConcurrentRequestsPerPeer: 16
}

/** A session refused, as the BYE that tells the peer (its `connect` fails with `ConnectionRefused` carrying them). */
export interface Refusal {
  readonly code: ErrorCode
  readonly reason: string
  /** Which limit (a metric label). */
  readonly limit: "sessions_per_peer" | "sessions_total" | "sessions_waiting"
}

/** The counts of one agent against its limits. */
export interface PeerAdmission {
  readonly limits: PeerLimits
  /** Why a session from `remote` is refused now (`undefined`: it may open). */
  readonly refuseSession: (remote: string) => Refusal | undefined
  /** Counts a session `remote` opened; `false` (not counted) when it is over a limit after all. */
  readonly sessionOpened: (remote: string) => boolean
  readonly sessionEnded: (remote: string) => void
  /** A session waits to be taken by the application / was taken. */
  readonly sessionWaiting: () => void
  readonly sessionTaken: () => void
  /** Counts a request of `remote`; `false` (not counted) when it has too many running. */
  readonly requestStarted: (remote: string) => boolean
  readonly requestEnded: (remote: string) => void
}

const decrement = (counts: Map<string, number>, key: string) => {
  const count = (counts.get(key) ?? 1) - 1
  if (count <= 0) counts.delete(key)
  else counts.set(key, count)
}

/** Fresh counts against `limits` (the defaults for those not given). */
export const make = (limits: Partial<PeerLimits> = {}): PeerAdmission => {
  const all = { ...defaults, ...limits }
  const sessionsByPeer = new Map<string, number>()
  const requestsByPeer = new Map<string, number>()
  let sessions = 0
  let waiting = 0
  const refuseSession = (remote: string): Refusal | undefined => {
    if ((sessionsByPeer.get(remote) ?? 0) >= all.maxSessionsPerPeer) {
      return { code: "RATE_LIMITED", reason: `too many sessions from this agent (at most ${all.maxSessionsPerPeer})`, limit: "sessions_per_peer" }
    }
    if (sessions >= all.maxSessions) {
      return { code: "RATE_LIMITED", reason: `too many sessions (at most ${all.maxSessions})`, limit: "sessions_total" }
    }
    if (waiting >= all.maxWaitingSessions) {
      return { code: "RATE_LIMITED", reason: "not taking sessions now", limit: "sessions_waiting" }
    }
    return undefined
  }
  return {
    limits: all,
    refuseSession,
    sessionOpened: (remote) => {
      if (refuseSession(remote) !== undefined) return false
      sessions++
      sessionsByPeer.set(remote, (sessionsByPeer.get(remote) ?? 0) + 1)
      return true
    },
    sessionEnded: (remote) => {
      sessions--
      decrement(sessionsByPeer, remote)
    },
    sessionWaiting: () => void waiting++,
    sessionTaken: () => void waiting--,
    requestStarted: (remote) => {
      const running = requestsByPeer.get(remote) ?? 0
      if (running >= all.maxConcurrentRequestsPerPeer) return false
      requestsByPeer.set(remote, running + 1)
      return true
    },
    requestEnded: (remote) => decrement(requestsByPeer, remote)
  }
}
