/**
 * A connection as the Connector keeps it, keyed by (remote DID, connection id): where its signals
 * arrive, its candidates, and its generations once it is open.
 *
 * @since 0.1.0
 */
import { Deferred, Effect, type PubSub, Queue, type Scope, type SubscriptionRef } from "effect"
import type { Signal } from "../../client/Signaling.ts"
import type { Did } from "../../protocol/Did.ts"
import type { ConnectError } from "./ConnectErrors.ts"
import type * as LinkChannel from "./LinkChannel.ts"
import type * as Recovery from "./Recovery.ts"
import * as Trickle from "./Trickle.ts"

/** Which side of the link this agent is: the offerer negotiated it and is the one that recovers it. */
export type Role = "offerer" | "answerer"

/** One connection of the Connector. */
export interface LinkState {
  readonly remote: Did
  readonly connectionId: string
  readonly role: Role
  /** ANSWERs on this connection (the offerer's). */
  readonly answers: Queue.Queue<Signal<"ANSWER">>
  /** Fails when a signal of ours was not delivered. */
  readonly failure: Deferred.Deferred<never, ConnectError>
  /** Completes when the peer says BYE. */
  readonly bye: Deferred.Deferred<Signal<"BYE">>
  readonly trickle: Trickle.Trickle
  /** Once the link is open. */
  open: OpenLink | undefined
}

/** An open link's generations (see `LinkChannel`) and events. */
export interface OpenLink {
  readonly current: SubscriptionRef.SubscriptionRef<LinkChannel.Generation>
  readonly events: PubSub.PubSub<Recovery.LinkEvent>
  readonly scope: Scope.Closeable
  /** A rebuild being answered, not open yet: a newer OFFER supersedes it. */
  pending: Scope.Closeable | undefined
}

/** The Connector's connections. */
export interface Registry {
  /** A new connection, known until the scope closes (so signals that follow its OFFER find it). */
  readonly register: (remote: Did, connectionId: string, role: Role) => Effect.Effect<LinkState, never, Scope.Scope>
  readonly get: (remote: string, connectionId: string) => LinkState | undefined
}

const keyOf = (remote: string, connectionId: string) => `${remote} ${connectionId}`

/** An empty registry. */
export const makeRegistry = (): Registry => {
  const links = new Map<string, LinkState>()
  return {
    register: (remote, connectionId, role) =>
      Effect.acquireRelease(
        Effect.gen(function*() {
          const state: LinkState = {
            remote,
            connectionId,
            role,
            answers: yield* Queue.unbounded<Signal<"ANSWER">>(),
            failure: yield* Deferred.make<never, ConnectError>(),
            bye: yield* Deferred.make<Signal<"BYE">>(),
            trickle: yield* Trickle.make,
            open: undefined
          }
          links.set(keyOf(remote, connectionId), state)
          return state
        }),
        () => Effect.sync(() => links.delete(keyOf(remote, connectionId)))
      ),
    get: (remote, connectionId) => links.get(keyOf(remote, connectionId))
  }
}
