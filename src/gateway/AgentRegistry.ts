/**
 * The directory of registered agents: who is here, with which capabilities.
 *
 * A service, so a gateway cluster can swap the in-memory Layer for a shared one; nothing else in
 * the gateway assumes the directory lives in this process.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Option, Schema } from "effect"
import type { Did } from "../protocol/Did.ts"
import type { Capability, PeerEntry } from "../protocol/Envelope.ts"
import { utf8ByteLength } from "../protocol/Utf8.ts"

/** A registered agent. */
export interface AgentEntry {
  readonly did: Did
  readonly capabilities: ReadonlyArray<Capability>
  readonly name?: string | undefined
  readonly unlisted: boolean
  /** When it registered, in the envelope timestamp format. */
  readonly connectedAt: string
  /** The session holding the registration (newest wins). */
  readonly sessionId: string
}

/** Whether the directory is whole, or only this node's part of it is reachable. */
export type Health = "ok" | "degraded"

/** A DISCOVER (or `/agents`) query. */
export interface DiscoverQuery {
  readonly capability?: string | undefined
  readonly tag?: string | undefined
  readonly limit: number
  readonly cursor?: string | undefined
  /** The caller, never listed. */
  readonly exclude?: Did | undefined
  /** The page must serialise (as JSON entries) within this many bytes. */
  readonly maxBytes: number
}

/** One page of a directory listing. */
export interface DiscoverPage {
  readonly agents: ReadonlyArray<PeerEntry>
  readonly nextCursor?: string | undefined
}

/** A cursor that this directory did not hand out. */
export class InvalidCursor extends Schema.TaggedError<InvalidCursor>()("InvalidCursor", {
  cursor: Schema.String
}) {}

/** The directory of registered agents. */
export class AgentRegistry extends Context.Service<AgentRegistry, {
  /** Adds or replaces the entry of a DID; returns the entry it replaced. */
  readonly register: (entry: AgentEntry) => Effect.Effect<Option.Option<AgentEntry>>
  /** Removes a DID's entry if it still belongs to `sessionId`. */
  readonly unregister: (did: Did, sessionId: string) => Effect.Effect<boolean>
  readonly lookup: (did: string) => Effect.Effect<Option.Option<AgentEntry>>
  /**
   * `lookup`'s answer without an Effect when it is at hand (in this process's memory), else
   * `undefined` (ask `lookup`): the relay's hot path takes it when it can.
   */
  readonly lookupNow?: (did: string) => Option.Option<AgentEntry> | undefined
  /** Listed agents matching the query, ordered by DID, one page at a time. */
  readonly discover: (query: DiscoverQuery) => Effect.Effect<DiscoverPage, InvalidCursor>
  /** Agents in the directory (a cluster's whole directory, at its last sweep). */
  readonly count: Effect.Effect<number>
  /** "degraded" while a shared directory is unreachable and only this node's agents are known. */
  readonly health: Effect.Effect<Health>
}>()("aiconexus/gateway/AgentRegistry") {
  /** A directory in this process's memory (one gateway node). */
  static readonly layerMemory: Layer.Layer<AgentRegistry> = Layer.sync(AgentRegistry, () => makeMemory())
}

/** Whether an entry matches DISCOVER's filters: both must hold for the same capability. */
export const matches = (entry: AgentEntry, capability: string | undefined, tag: string | undefined): boolean =>
  (capability === undefined && tag === undefined) ||
  entry.capabilities.some((c) => (capability === undefined || c.id === capability) && (tag === undefined || (c.tags ?? []).includes(tag)))

/** The PEERS form of an entry. */
export const toPeerEntry = (entry: AgentEntry): PeerEntry => ({
  did: entry.did,
  capabilities: entry.capabilities,
  ...(entry.name === undefined ? {} : { name: entry.name }),
  connected_at: entry.connectedAt
})

const CURSOR_PREFIX = "after:"

/** The opaque cursor that resumes a listing after `did`. */
export const cursorAfter = (did: string): string => CURSOR_PREFIX + did

/** The DID a cursor resumes after. */
export const parseCursor = (cursor: string): Effect.Effect<string, InvalidCursor> =>
  cursor.startsWith(CURSOR_PREFIX) ? Effect.succeed(cursor.slice(CURSOR_PREFIX.length)) : Effect.fail(new InvalidCursor({ cursor }))

/**
 * Cuts a sorted list of matching entries into a page: at most `limit` entries, fewer when their
 * JSON would exceed `maxBytes`, and a cursor when more remain.
 */
export const paginate = (sorted: ReadonlyArray<AgentEntry>, query: DiscoverQuery): DiscoverPage => {
  const agents: Array<PeerEntry> = []
  let bytes = 0
  for (const entry of sorted) {
    if (agents.length === query.limit) break
    const peer = toPeerEntry(entry)
    const size = utf8ByteLength(JSON.stringify(peer)) + 1
    if (bytes + size > query.maxBytes && agents.length > 0) break
    agents.push(peer)
    bytes += size
  }
  const last = agents.at(-1)
  return agents.length < sorted.length && last !== undefined ? { agents, nextCursor: cursorAfter(last.did) } : { agents }
}

/** Answers a query from entries held in memory, in any order. */
export const discoverIn = (entries: Iterable<AgentEntry>, query: DiscoverQuery): Effect.Effect<DiscoverPage, InvalidCursor> =>
  Effect.gen(function*() {
    const after = query.cursor === undefined ? undefined : yield* parseCursor(query.cursor)
    const found: Array<AgentEntry> = []
    for (const entry of entries) {
      if (isListedFor(entry, query, after)) found.push(entry)
    }
    found.sort((a, b) => (a.did < b.did ? -1 : a.did > b.did ? 1 : 0))
    return paginate(found, query)
  })

/** Whether an entry belongs in the answer to a query resuming after `after`. */
export const isListedFor = (entry: AgentEntry, query: DiscoverQuery, after: string | undefined): boolean =>
  !entry.unlisted && entry.did !== query.exclude && (after === undefined || entry.did > after) &&
  matches(entry, query.capability, query.tag)

const makeMemory = (): AgentRegistry["Service"] => {
  const entries = new Map<string, AgentEntry>()
  return {
    register: (entry) =>
      Effect.sync(() => {
        const previous = entries.get(entry.did)
        entries.set(entry.did, entry)
        return Option.fromUndefinedOr(previous)
      }),
    unregister: (did, sessionId) =>
      Effect.sync(() => {
        if (entries.get(did)?.sessionId !== sessionId) return false
        return entries.delete(did)
      }),
    lookup: (did) => Effect.sync(() => Option.fromUndefinedOr(entries.get(did))),
    lookupNow: (did) => Option.fromUndefinedOr(entries.get(did)),
    discover: (query) => discoverIn(entries.values(), query),
    count: Effect.sync(() => entries.size),
    health: Effect.succeed("ok")
  }
}
