/**
 * The limit on inbound offers being answered: per remote DID and in total, so that offers cannot
 * make this agent build connections without bound. An offer past a limit is refused (BYE with
 * RATE_LIMITED) before anything is created.
 *
 * @since 0.1.0
 */
import { Effect } from "effect"

/** Offers being answered. */
export interface PendingOffers {
  /** Counts an offer from `remote` as pending, unless a limit is reached (then false). */
  readonly admit: (remote: string) => boolean
  /** An admitted offer is answered or given up. */
  readonly release: (remote: string) => Effect.Effect<void>
}

/** At most `maxPerPeer` pending offers from one DID and `maxTotal` in all. */
export const make = (limits: { readonly maxPerPeer: number; readonly maxTotal: number }): PendingOffers => {
  const byPeer = new Map<string, number>()
  let total = 0
  return {
    admit: (remote) => {
      const fromPeer = byPeer.get(remote) ?? 0
      if (total >= limits.maxTotal || fromPeer >= limits.maxPerPeer) return false
      total++
      byPeer.set(remote, fromPeer + 1)
      return true
    },
    release: (remote) =>
      Effect.sync(() => {
        total--
        const count = (byPeer.get(remote) ?? 1) - 1
        if (count <= 0) byPeer.delete(remote)
        else byPeer.set(remote, count)
      })
  }
}
