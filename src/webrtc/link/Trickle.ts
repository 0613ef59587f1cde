/**
 * Trickle ICE for one link (RFC 8838): which of its peer connections takes the remote candidates,
 * when they wait, and when local candidates may go out.
 *
 * Remote candidates go to the connection being negotiated; they wait while there is none (a
 * rebuild being answered) or while a new remote description is being applied to the current one
 * (an ICE restart). Local candidates go out only after the description they belong to: the peer
 * ignores signals for a connection it does not know yet.
 *
 * @since 0.1.0
 */
import { Deferred, Effect } from "effect"
import type { IceCandidate, PeerConnection } from "../peer/PeerConnection.ts"

/** The candidates of one link. */
export interface Trickle {
  /** A remote candidate that passed the policy: applied to the connection being negotiated, or kept until it can be. */
  readonly addRemote: (candidate: IceCandidate) => Effect.Effect<void>
  /** `peer` takes the remote candidates from now on, those waiting first; local ones wait for `described`. */
  readonly attach: (peer: PeerConnection, described: Deferred.Deferred<void>) => Effect.Effect<void>
  /** Remote candidates go to `peer` from now on (none: they wait); waiting ones stay until `attach` or `release`. */
  readonly retarget: (peer: PeerConnection | undefined) => Effect.Effect<void>
  /** A new description for the current connection: remote candidates wait until `release`, local ones until `described`. */
  readonly hold: (described: Deferred.Deferred<void>) => Effect.Effect<void>
  /** Applies the remote candidates held while a description was being applied. */
  readonly release: Effect.Effect<void>
  /** Completes once local candidates may be sent (the current description is out). */
  readonly described: Effect.Effect<void>
}

/** A link's candidates, before its first connection exists. */
export const make: Effect.Effect<Trickle> = Effect.gen(function*() {
  const waiting: Array<IceCandidate> = []
  let target: PeerConnection | undefined
  let holding = false
  let gate = yield* Deferred.make<void>()

  const addRemote = (candidate: IceCandidate): Effect.Effect<void> => {
    if (target === undefined || holding) {
      waiting.push(candidate)
      return Effect.void
    }
    return Effect.ignore(target.addRemoteCandidate(candidate), { log: "Debug" })
  }
  const flush = Effect.suspend(() => Effect.forEach(waiting.splice(0), addRemote, { discard: true }))

  return {
    addRemote,
    attach: (peer, described) =>
      Effect.suspend(() => {
        target = peer
        gate = described
        return flush
      }),
    retarget: (peer) => Effect.sync(() => void (target = peer)),
    hold: (described) =>
      Effect.sync(() => {
        gate = described
        holding = true
      }),
    release: Effect.suspend(() => {
      holding = false
      return flush
    }),
    described: Effect.suspend(() => Deferred.await(gate))
  }
})
