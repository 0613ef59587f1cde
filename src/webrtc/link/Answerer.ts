/**
 * Answering a new OFFER as a link: the accept policy is applied before anything is created, then
 * the first generation is answered through `Negotiation` and the open link handed on. An OFFER
 * from a DID whose last answers failed a short while ago is a retry of those attempts, which some
 * stacks answer differently (`Transport.prepareRemoteOffer` is told how many failed in a row).
 *
 * @since 0.1.0
 */
import { Clock, Effect, Exit, Scope } from "effect"
import type { Signal, Signaling } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import type { ErrorCode } from "../../protocol/ErrorCode.ts"
import { boundedMemo } from "../../util/BoundedMemo.ts"
import type { Links, PeerLink } from "./Link.ts"
import type { LinkState } from "./LinkState.ts"
import type { Negotiation } from "./Negotiation.ts"

/** What the answerer needs. */
export interface AnswererConfig {
  readonly signaling: Signaling["Service"]
  readonly negotiation: Negotiation
  readonly links: Links
  /**
   * Whether to answer an OFFER from this DID (default: yes): `false` refuses with
   * CONNECTION_REFUSED; `{ code, reason }` refuses with that BYE.
   */
  readonly acceptPolicy: ((remote: Did) => Effect.Effect<boolean | { readonly code: ErrorCode; readonly reason: string }>) | undefined
}

/** Answers `offer` on its registered connection `state`, whose scope is `linkScope`, and hands the open link to `deliver`; a failure is logged. */
export type Answer = (
  offer: Signal<"OFFER">,
  state: LinkState,
  linkScope: Scope.Closeable,
  deliver: (link: PeerLink) => Effect.Effect<unknown>
) => Effect.Effect<void>

/**
 * How long after a failed answer an OFFER from the same DID counts as a retry. A link answered for
 * that DID clears its failures: one failure must not make every later connect a retry.
 */
const RETRY_WINDOW_MS = 30_000

/** The answerer with `config`. */
export const make = (config: AnswererConfig): Answer => {
  const { links, negotiation, signaling } = config
  // Each DID's answers that failed in a row, and when the last did.
  const failures = boundedMemo<string, { readonly count: number; readonly at: number }>(4096)
  const failedBefore = (remote: string, now: number): number => {
    const failed = failures.get(remote)
    return failed !== undefined && now - failed.at < RETRY_WINDOW_MS ? failed.count : 0
  }
  const answerFailed = (remote: string) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.sync(() => failures.set(remote, { count: failedBefore(remote, now) + 1, at: now })))

  const answer: Answer = (offer, state, linkScope, deliver) =>
    Effect.gen(function*() {
      const remote = offer.from
      const verdict = config.acceptPolicy === undefined ? true : yield* config.acceptPolicy(remote)
      if (verdict !== true) {
        const { code, reason } = verdict === false ? { code: "CONNECTION_REFUSED" as const, reason: "not accepted" } : verdict
        yield* Effect.ignore(signaling.send(remote, "BYE", { connection_id: offer.connectionId, code, reason }))
        return yield* Scope.close(linkScope, Exit.void)
      }
      const setup = Effect.gen(function*() {
        yield* links.byeOnClose(state)
        const failedAttempts = failedBefore(remote, yield* Clock.currentTimeMillis)
        const first = yield* negotiation.answerGeneration(state, offer, 0, yield* Scope.fork(linkScope, "sequential"), failedAttempts)
        failures.delete(remote)
        return yield* links.open(state, first, linkScope)
      }).pipe(Scope.provide(linkScope))
      const link = yield* setup.pipe(Effect.onError(() => Scope.close(linkScope, Exit.void)))
      yield* deliver(link)
    }).pipe(
      Effect.catchCause((cause) => Effect.andThen(answerFailed(offer.from), Effect.logWarning("could not answer an OFFER", cause)))
    )

  return answer
}
