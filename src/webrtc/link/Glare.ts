/**
 * Simultaneous offers (glare, PROTOCOL.md 5.2) with `onePerPeer`: when two agents offer to each
 * other at once, the offer of the lower DID (byte-wise) is kept and the other is refused with BYE;
 * the side whose offer lost adopts the link of the other's.
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import type { Did } from "../../protocol/Did.ts"
import type { ConnectionRefused } from "./ConnectErrors.ts"
import type { PeerLink } from "./Link.ts"

/** The BYE reason of an offer refused by the simultaneous-offer rule (its sender then adopts ours). */
export const GLARE_REASON = "simultaneous offers: the lower DID's offer is kept"

/** Our offers being negotiated, per peer. */
export interface Glare {
  /** Our offer to `remote` is being negotiated until `done`; if the peer's offer wins, its link completes `adopted`. */
  readonly offering: (remote: Did) => Effect.Effect<{ readonly adopted: Deferred.Deferred<PeerLink>; readonly done: Effect.Effect<void> }>
  /** With `onePerPeer`: our offer to `remote` under way, which an offer from it meets. */
  readonly ours: (remote: Did) => Deferred.Deferred<PeerLink> | undefined
  /** Whether our offer is kept over one from `remote`. */
  readonly oursIsKept: (remote: Did) => boolean
  /** Whether our offer was refused because the peer's is kept (with `onePerPeer`: its link is on its way). */
  readonly lost: (error: ConnectionRefused) => boolean
}

/** Glare between `self` and its peers; without `onePerPeer` simultaneous offers make two connections. */
export const make = (self: Did, onePerPeer: boolean): Glare => {
  const outgoing = new Map<string, Deferred.Deferred<PeerLink>>()
  return {
    offering: (remote) =>
      Effect.map(Deferred.make<PeerLink>(), (adopted) => {
        outgoing.set(remote, adopted)
        return {
          adopted,
          done: Effect.sync(() => {
            if (outgoing.get(remote) === adopted) outgoing.delete(remote)
          })
        }
      }),
    ours: (remote) => (onePerPeer ? outgoing.get(remote) : undefined),
    oursIsKept: (remote) => self < remote,
    lost: (error) => onePerPeer && error.reason === GLARE_REASON
  }
}
