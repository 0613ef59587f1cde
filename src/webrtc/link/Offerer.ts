/**
 * Opening a link as the offerer: a new connection id per attempt, its first generation offered
 * through `Negotiation`, within one connect deadline. An attempt the stack failed early is tried
 * again with a new connection id (not on refusal or timeout). With `onePerPeer`, an offer that lost
 * to the peer's simultaneous one adopts the link of the peer's (see `Glare`).
 *
 * @since 0.1.0
 */
import { Clock, Deferred, Effect, Exit, Metric, Scope } from "effect"
import type { Did } from "../../protocol/Did.ts"
import * as PeerMetrics from "../peer/PeerMetrics.ts"
import { ConnectFailed, type ConnectError, ConnectTimeout } from "./ConnectErrors.ts"
import type { Glare } from "./Glare.ts"
import type { Links, PeerLink } from "./Link.ts"
import type { Registry } from "./LinkState.ts"
import type { Negotiation } from "./Negotiation.ts"

/** What the offerer needs. */
export interface OffererConfig {
  readonly registry: Registry
  readonly negotiation: Negotiation
  readonly links: Links
  readonly glare: Glare
  /** The connect deadline, over all attempts. */
  readonly connectTimeoutMs: number
  /** Attempts within the deadline when the stack fails a connection early. */
  readonly connectAttempts: number
}

/** Opens a connection to `remote` as the offerer; it closes with the scope (or the link's `close`). */
export type Connect = (remote: Did) => Effect.Effect<PeerLink, ConnectError, Scope.Scope>

/** The offerer with `config`. */
export const make = (config: OffererConfig): Connect => {
  const { glare, links, negotiation, registry } = config

  /** One attempt: a new connection id, within `deadlineMs`. */
  const attempt = (remote: Did, deadlineMs: number): Effect.Effect<PeerLink, ConnectError, Scope.Scope> =>
    Effect.gen(function*() {
      const callerScope = yield* Effect.scope
      const linkScope = yield* Scope.fork(callerScope, "sequential")
      const connectionId = globalThis.crypto.randomUUID()
      const offer = yield* glare.offering(remote)
      const adopted = Effect.tap(Deferred.await(offer.adopted), (link) =>
        Effect.andThen(Scope.close(linkScope, Exit.void), Scope.addFinalizer(callerScope, link.close)))
      const setup = Effect.gen(function*() {
        const state = yield* registry.register(remote, connectionId, "offerer")
        yield* links.byeOnClose(state)
        const first = yield* negotiation.offerGeneration(state, 0, linkScope)
        return yield* links.open(state, first, linkScope)
      }).pipe(Scope.provide(linkScope))
      return yield* setup.pipe(
        // Our offer lost the simultaneous-offer rule: the peer's offer is on its way; adopt it.
        Effect.catchTag("ConnectionRefused", (error) => glare.lost(error) ? Effect.never : Effect.fail(error)),
        Effect.raceFirst(adopted),
        Effect.timeoutOrElse({
          duration: deadlineMs,
          orElse: () => Effect.fail(new ConnectTimeout({ remote, connectionId, timeoutMs: deadlineMs }))
        }),
        Effect.ensuring(offer.done),
        Effect.mapError((error) =>
          error._tag === "ConnectTimeout" || error._tag === "ConnectionRefused" || error._tag === "ConnectFailed"
            ? error
            : new ConnectFailed({ remote, reason: `${error._tag}: ${error.message || JSON.stringify(error)}` })
        ),
        Effect.onError(() => Scope.close(linkScope, Exit.void))
      )
    })

  return (remote) =>
    Effect.gen(function*() {
      const started = yield* Clock.currentTimeMillis
      let tries = 0
      while (true) {
        const remaining = config.connectTimeoutMs - ((yield* Clock.currentTimeMillis) - started)
        const result = yield* Effect.result(attempt(remote, Math.max(1, remaining)))
        if (result._tag === "Success") {
          const elapsed = (yield* Clock.currentTimeMillis) - started
          yield* Metric.update(PeerMetrics.connectSeconds, elapsed / 1000)
          return result.success
        }
        tries++
        if (result.failure._tag !== "ConnectFailed" || result.failure.final === true || tries >= config.connectAttempts) {
          yield* Metric.update(PeerMetrics.connectErrors(result.failure._tag), 1)
          return yield* Effect.fail(result.failure)
        }
        yield* Metric.update(PeerMetrics.connectRetries, 1)
        yield* Effect.logWarning("connection attempt failed; trying again", result.failure.reason)
      }
    })
}
