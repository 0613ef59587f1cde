/**
 * Sessions to peers, shared between calls: a call to a DID reuses its open session (or waits for
 * the one being opened), and a session with no call in flight for `idleMs` is closed. At most
 * `maxSessions` are open; when a new one is needed the least recently used idle one is closed,
 * and when none is idle the call fails with `TOO_MANY_SESSIONS` (never an unbounded pool).
 *
 * @since 0.1.0
 */
import { Context, Deferred, Effect, Exit, Fiber, Layer, Schema, Scope } from "effect"
import { Agent, type PeerSession } from "../agent/Agent.ts"
import type { Did } from "../protocol/Did.ts"
import * as StateMachine from "../machine/StateMachine.ts"
import type { ConnectError } from "../webrtc/link/Connector.ts"

/** How the pool behaves. */
export interface PeerSessionsConfig {
  /** Close a session after this long without a call in flight (default 60 s). */
  readonly idleMs?: number
  /** Sessions open at once (default 16). */
  readonly maxSessions?: number
}

/** No session could be opened: the pool is full of sessions with calls in flight. */
export class TooManySessions extends Schema.TaggedError<TooManySessions>()("TooManySessions", {
  max: Schema.Number
}) {
  override get message() {
    return `${this.max} peer sessions are busy`
  }
}

/** States of a pooled session. */
export type EntryState = "opening" | "open" | "closed"
type EntryEvent = "opened" | "close"

/** The lifecycle of a pooled session: closing is final (eviction, idleness, the session ending or a failed connect). */
export const EntryMachine: StateMachine.Machine<EntryState, EntryEvent> = {
  name: "PeerSessions.entry",
  initial: "opening",
  states: ["opening", "open", "closed"],
  events: ["opened", "close"],
  table: {
    opening: { opened: "open", close: "closed" },
    open: { close: "closed" },
    closed: {}
  }
}

interface Entry {
  state: EntryState
  readonly scope: Scope.Closeable
  /** The session, or why there is none (a pool closed while connecting answers InvalidTransition). */
  readonly session: Deferred.Deferred<PeerSession, ConnectError | StateMachine.InvalidTransition>
  inFlight: number
  lastUsed: number
  idle: Fiber.Fiber<void> | undefined
}

/** The pool of sessions. */
export class PeerSessions extends Context.Service<PeerSessions, {
  /** Runs `use` with a session to `did`, opened or reused. */
  readonly use: <A, E>(did: Did, use: (session: PeerSession) => Effect.Effect<A, E>) => Effect.Effect<A, E | ConnectError | TooManySessions | StateMachine.InvalidTransition>
  /** The DIDs with a session open or opening. */
  readonly open: Effect.Effect<ReadonlyArray<Did>>
}>()("aiconexus/mcp/PeerSessions") {
  static readonly layer = (config: PeerSessionsConfig = {}): Layer.Layer<PeerSessions, never, Agent> =>
    Layer.effect(PeerSessions, make(config))
}

const make = (config: PeerSessionsConfig) =>
  Effect.gen(function*() {
    const agent = yield* Agent
    const idleMs = config.idleMs ?? 60_000
    const maxSessions = config.maxSessions ?? 16
    const entries = new Map<Did, Entry>()
    let clock = 0

    /** Applies `event` to an entry; an event its state does not allow is a typed failure. */
    const apply = (entry: Entry, event: EntryEvent) =>
      Effect.map(Effect.fromResult(StateMachine.transition(EntryMachine, entry.state, event)), (next) => {
        entry.state = next
      })
    // Several things can end an entry (eviction, idleness, the session ending): the first closes it.
    const drop = (did: Did, entry: Entry) =>
      Effect.suspend(() => {
        if (entries.get(did) === entry) entries.delete(did)
        if (!StateMachine.allows(EntryMachine, entry.state, "close")) return Effect.void
        return Effect.andThen(Effect.orDie(apply(entry, "close")), Scope.close(entry.scope, Exit.void))
      })
    // From a fiber of the entry's own scope: closing it there would wait for that very fiber.
    const dropLater = (did: Did, entry: Entry) => Effect.asVoid(Effect.forkDetach(drop(did, entry)))
    // Everything the pool opened is closed with it.
    yield* Effect.addFinalizer(() => Effect.forEach([...entries], ([did, entry]) => drop(did, entry), { discard: true }))

    const open = (did: Did): Effect.Effect<Entry, TooManySessions> =>
      Effect.gen(function*() {
        if (entries.size >= maxSessions) {
          const idle = [...entries].filter(([, e]) => e.inFlight === 0).sort(([, a], [, b]) => a.lastUsed - b.lastUsed)[0]
          if (idle === undefined) return yield* new TooManySessions({ max: maxSessions })
          yield* drop(idle[0], idle[1])
        }
        const entry: Entry = {
          state: EntryMachine.initial,
          scope: yield* Scope.make(),
          session: yield* Deferred.make<PeerSession, ConnectError | StateMachine.InvalidTransition>(),
          inFlight: 0,
          lastUsed: ++clock,
          idle: undefined
        }
        entries.set(did, entry)
        // Connecting runs in the entry's scope, apart from the caller: a caller that gives up
        // does not break the session for the others waiting on it.
        yield* agent.connect(did).pipe(
          Effect.tap((session) => Effect.andThen(apply(entry, "opened"), Effect.forkIn(Effect.andThen(session.ended, dropLater(did, entry)), entry.scope))),
          Effect.exit,
          Effect.flatMap((exit) =>
            Exit.isSuccess(exit) ? Deferred.succeed(entry.session, exit.value) : Effect.andThen(drop(did, entry), Deferred.done(entry.session, exit))
          ),
          Scope.provide(entry.scope),
          Effect.forkDetach
        )
        return entry
      })

    const release = (did: Did, entry: Entry) =>
      Effect.suspend(() => {
        entry.inFlight--
        entry.lastUsed = ++clock
        if (entry.inFlight > 0 || entries.get(did) !== entry) return Effect.void
        return Effect.asVoid(Effect.forkIn(
          Effect.andThen(Effect.sleep(idleMs), Effect.suspend(() => entry.inFlight === 0 ? dropLater(did, entry) : Effect.void)),
          entry.scope
        ).pipe(Effect.tap((fiber) => Effect.sync(() => (entry.idle = fiber)))))
      })

    const acquire = (did: Did) =>
      Effect.gen(function*() {
        const entry = entries.get(did) ?? (yield* open(did))
        entry.inFlight++
        entry.lastUsed = ++clock
        if (entry.idle !== undefined) {
          const idle = entry.idle
          entry.idle = undefined
          yield* Fiber.interrupt(idle)
        }
        return entry
      })

    return PeerSessions.of({
      use: (did, use) =>
        Effect.acquireUseRelease(
          Effect.uninterruptible(acquire(did)),
          (entry) => Effect.flatMap(Deferred.await(entry.session), use),
          (entry) => release(did, entry)
        ),
      open: Effect.sync(() => [...entries.keys()])
    })
  })
