/**
 * The cluster's directory as it is kept in Redis: keys, Lua scripts and the stored form of an
 * entry. Every operation that reads and writes is one script, so it is atomic.
 *
 * Keys (all under the hash tag `{prefix}`, so one script's keys share a Redis Cluster slot):
 * - `{prefix}:agent:<did>`: a hash `epoch`, `node`, `session`, `entry` (JSON). It expires unless
 *   the node holding the session refreshes it: a node that dies takes its agents with it.
 * - `{prefix}:epoch:<did>`: the DID's registration counter (`INCR`). It outlives sessions (a day
 *   after the last refresh of its TTL, which the holding node renews hourly, not at every presence
 *   refresh) so a returning DID never reuses an epoch.
 * - `{prefix}:directory`: every listed-or-not DID, score 0, so `ZRANGEBYLEX` pages in DID order
 *   and a cursor from one node resumes on another.
 * - `{prefix}:expiry`: the same DIDs scored by expiry time, to sweep entries whose node died.
 *
 * @since 0.1.0
 */
import { Effect, Option, Schema } from "effect"
import * as Redis from "effect/persistence/Redis"
import { Did } from "../protocol/Did.ts"
import { Capability } from "../protocol/Envelope.ts"
import type { AgentEntry } from "./AgentRegistry.ts"

/** How long an epoch counter outlives its DID's last refresh. */
const EPOCH_TTL_MS = 24 * 60 * 60 * 1000
/** How often a node renews its agents' epoch counters' TTL (far within EPOCH_TTL_MS: not at every presence refresh). */
export const EPOCH_REFRESH_MS = 60 * 60 * 1000

/** The stored form of an entry; a corrupt or foreign value reads as absent, never as a crash. */
const StoredEntry = Schema.Struct({
  capabilities: Schema.Array(Capability),
  name: Schema.optionalKey(Schema.String),
  unlisted: Schema.Boolean,
  connectedAt: Schema.String
})
const decodeStored = Schema.decodeUnknownOption(Schema.fromJsonString(StoredEntry))
const decodeDid = Schema.decodeUnknownOption(Did)

const encodeStored = (entry: AgentEntry): string =>
  JSON.stringify({
    capabilities: entry.capabilities,
    ...(entry.name === undefined ? {} : { name: entry.name }),
    unlisted: entry.unlisted,
    connectedAt: entry.connectedAt
  })

/** An entry as read back: where its session lives. */
export interface Located {
  readonly entry: AgentEntry
  readonly node: string
}

const toLocated = (did: string, session: unknown, node: unknown, stored: unknown): Option.Option<Located> => {
  if (typeof session !== "string" || typeof node !== "string") return Option.none()
  return Option.flatMap(decodeDid(did), (did) =>
    Option.map(decodeStored(stored), (entry) => ({
      node,
      entry: { did, sessionId: session, ...entry, name: entry.name }
    })))
}

/** Registers a DID: takes the next epoch and replaces whatever entry was there. */
const REGISTER = `
local epoch = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[7])
local previous = redis.call('HMGET', KEYS[1], 'session', 'node', 'entry')
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'epoch', epoch, 'node', ARGV[2], 'session', ARGV[3], 'entry', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
return {epoch, previous[1] or '', previous[2] or '', previous[3] or ''}
`

/**
 * Refreshes (or, after the store lost it, re-publishes) a session's entry, unless a registration
 * with a higher epoch holds the DID: then 0, and the session has been replaced.
 */
const CLAIM = `
local epoch = tonumber(ARGV[8])
local held = redis.call('HMGET', KEYS[1], 'epoch', 'session')
local heldEpoch = tonumber(held[1] or '0')
if heldEpoch > epoch or (heldEpoch == epoch and held[2] ~= ARGV[3]) then return 0 end
if heldEpoch == epoch then
  -- Still held: the entry, the epoch counter (never below a held epoch) and the listing exist.
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
  redis.call('PEXPIRE', KEYS[2], ARGV[7])
  redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
  return 1
else
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'epoch', epoch, 'node', ARGV[2], 'session', ARGV[3], 'entry', ARGV[4])
  redis.call('PEXPIRE', KEYS[1], ARGV[5])
end
if tonumber(redis.call('GET', KEYS[2]) or '0') < epoch then redis.call('SET', KEYS[2], epoch) end
redis.call('PEXPIRE', KEYS[2], ARGV[7])
redis.call('ZADD', KEYS[3], 0, ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[1])
return 1
`

/**
 * Refreshes many held entries in one call: per DID 1 (refreshed), 0 (a newer registration holds
 * it: replaced) or 2 (the store lost it or has an older epoch: re-publish it with CLAIM).
 * KEYS: expiry, then per DID its agent and epoch keys; ARGV: ttl, expiry time, epoch ttl (0: leave
 * the epoch counters' TTL as it is), then per DID: did, session, epoch.
 */
const CLAIM_HELD = `
local results = {}
for i = 0, (#ARGV - 3) / 3 - 1 do
  local did, session, epoch = ARGV[4 + 3 * i], ARGV[5 + 3 * i], tonumber(ARGV[6 + 3 * i])
  local agentKey, epochKey = KEYS[2 + 2 * i], KEYS[3 + 2 * i]
  local held = redis.call('HMGET', agentKey, 'epoch', 'session')
  local heldEpoch = tonumber(held[1] or '0')
  if heldEpoch > epoch or (heldEpoch == epoch and held[2] ~= session) then
    results[i + 1] = 0
  elseif heldEpoch == epoch then
    redis.call('PEXPIRE', agentKey, ARGV[1])
    if ARGV[3] ~= '0' then redis.call('PEXPIRE', epochKey, ARGV[3]) end
    redis.call('ZADD', KEYS[1], ARGV[2], did)
    results[i + 1] = 1
  else
    results[i + 1] = 2
  end
end
return results
`

/** Removes a DID's entry if it still belongs to the session. */
const UNREGISTER = `
if redis.call('HGET', KEYS[1], 'session') ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
`

/** Up to ARGV[2] DIDs after ARGV[1] in order, with the entries that still exist. */
const PAGE = `
local from = ARGV[1] == '' and '-' or ('(' .. ARGV[1])
local dids = redis.call('ZRANGEBYLEX', KEYS[1], from, '+', 'LIMIT', 0, tonumber(ARGV[2]))
local found = {}
for _, did in ipairs(dids) do
  local value = redis.call('HMGET', ARGV[3] .. did, 'session', 'node', 'entry')
  if value[1] then
    table.insert(found, did)
    table.insert(found, value[1])
    table.insert(found, value[2])
    table.insert(found, value[3])
  end
end
return {dids[#dids] or '', found}
`

/** Drops from the sorted sets the DIDs whose entry expired (their node stopped refreshing). */
const SWEEP = `
local dids = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, 1000)
local removed = 0
for _, did in ipairs(dids) do
  if redis.call('EXISTS', ARGV[2] .. did) == 0 then
    redis.call('ZREM', KEYS[1], did)
    redis.call('ZREM', KEYS[2], did)
    removed = removed + 1
  end
end
return removed
`

/** A session's hold on its DID, as a refresh claims it. */
export interface HeldEntry {
  readonly did: string
  readonly sessionId: string
  readonly epoch: number
}

/** What a refresh of a held entry found: refreshed, replaced by a newer registration, or to be re-published. */
export type HeldClaim = "refreshed" | "replaced" | "lost"

/** What a registration replaced. */
export interface Registered {
  readonly epoch: number
  readonly previous: Option.Option<Located>
}

/** The directory operations on one Redis, under one key prefix. */
export const make = (redis: Redis.Redis["Service"], prefix: string) => {
  const tag = `{${prefix}}`
  const agentPrefix = `${tag}:agent:`
  const agentKey = (did: string) => agentPrefix + did
  const epochKey = (did: string) => `${tag}:epoch:${did}`
  const directory = `${tag}:directory`
  const expiry = `${tag}:expiry`

  const writeArgs = (entry: AgentEntry, node: string, ttlMs: number, now: number) => [
    agentKey(entry.did),
    epochKey(entry.did),
    directory,
    expiry,
    entry.did,
    node,
    entry.sessionId,
    encodeStored(entry),
    ttlMs,
    now + ttlMs,
    EPOCH_TTL_MS
  ]
  const register = redis.eval(
    Redis.script((entry: AgentEntry, node: string, ttlMs: number, now: number) => writeArgs(entry, node, ttlMs, now), {
      lua: REGISTER,
      numberOfKeys: 4
    }).withReturnType<[number, string, string, string]>()
  )
  const claim = redis.eval(
    Redis.script(
      (entry: AgentEntry, epoch: number, node: string, ttlMs: number, now: number) => [...writeArgs(entry, node, ttlMs, now), epoch],
      { lua: CLAIM, numberOfKeys: 4 }
    ).withReturnType<number>()
  )
  const claimHeld = redis.eval(
    Redis.script(
      (held: ReadonlyArray<HeldEntry>, ttlMs: number, now: number, renewEpochs: boolean) => {
        const keys: Array<string> = [expiry]
        const args: Array<string | number> = [ttlMs, now + ttlMs, renewEpochs ? EPOCH_TTL_MS : 0]
        for (const { did, epoch, sessionId } of held) {
          keys.push(agentKey(did), epochKey(did))
          args.push(did, sessionId, epoch)
        }
        return [...keys, ...args]
      },
      { lua: CLAIM_HELD, numberOfKeys: (held: ReadonlyArray<HeldEntry>) => 1 + 2 * held.length }
    ).withReturnType<Array<number>>()
  )
  const unregister = redis.eval(
    Redis.script((did: string, session: string) => [agentKey(did), directory, expiry, did, session], {
      lua: UNREGISTER,
      numberOfKeys: 3
    }).withReturnType<number>()
  )
  const page = redis.eval(
    Redis.script((after: string, count: number) => [directory, after, count, agentPrefix], { lua: PAGE, numberOfKeys: 1 })
      .withReturnType<[string, Array<string>]>()
  )
  const sweep = redis.eval(
    Redis.script((now: number) => [directory, expiry, now, agentPrefix], { lua: SWEEP, numberOfKeys: 2 }).withReturnType<number>()
  )

  return {
    /** Registers a session's entry under the DID's next epoch; returns what it replaced. */
    register: (entry: AgentEntry, node: string, ttlMs: number, now: number): Effect.Effect<Registered, Redis.RedisError> =>
      Effect.map(register(entry, node, ttlMs, now), ([epoch, session, previousNode, stored]) => ({
        epoch: Number(epoch),
        previous: toLocated(entry.did, session === "" ? undefined : session, previousNode, stored)
      })),
    /** Refreshes a session's entry; false when a newer registration holds the DID. */
    claim: (entry: AgentEntry, epoch: number, node: string, ttlMs: number, now: number): Effect.Effect<boolean, Redis.RedisError> =>
      Effect.map(claim(entry, epoch, node, ttlMs, now), (held) => Number(held) === 1),
    /** Refreshes many held entries in one round trip (see CLAIM_HELD), in order; their epoch counters' TTL too if `renewEpochs`. */
    claimHeld: (held: ReadonlyArray<HeldEntry>, ttlMs: number, now: number, renewEpochs: boolean): Effect.Effect<ReadonlyArray<HeldClaim>, Redis.RedisError> =>
      Effect.map(claimHeld(held, ttlMs, now, renewEpochs), (results) =>
        results.map((result): HeldClaim => (Number(result) === 1 ? "refreshed" : Number(result) === 0 ? "replaced" : "lost"))),
    unregister: (did: string, session: string): Effect.Effect<boolean, Redis.RedisError> =>
      Effect.map(unregister(did, session), (removed) => Number(removed) === 1),
    lookup: (did: string): Effect.Effect<Option.Option<Located>, Redis.RedisError> =>
      Effect.map(
        redis.send<Array<string | null>>("HMGET", agentKey(did), "session", "node", "entry"),
        ([session, node, stored]) => toLocated(did, session, node, stored)
      ),
    /**
     * Up to `count` DIDs after `after` (exclusive; "" from the start) and the entries among them
     * that still exist; `last` is the last DID looked at ("" when the directory is exhausted).
     */
    page: (after: string, count: number): Effect.Effect<{ readonly last: string; readonly entries: ReadonlyArray<Located> }, Redis.RedisError> =>
      Effect.map(page(after, count), ([last, found]) => {
        const entries: Array<Located> = []
        for (let i = 0; i + 3 < found.length; i += 4) {
          const located = toLocated(found[i]!, found[i + 1], found[i + 2], found[i + 3])
          if (Option.isSome(located)) entries.push(located.value)
        }
        return { last, entries }
      }),
    count: redis.send<number>("ZCARD", directory).pipe(Effect.map(Number)),
    /** Removes expired DIDs from the listing; returns how many. */
    sweep: (now: number): Effect.Effect<number, Redis.RedisError> => Effect.map(sweep(now), Number),
    /** The pub/sub channel of one node. */
    nodeChannel: (node: string) => `${tag}:node:${node}`,
    /** The channel on which every registration is announced to every node. */
    registrationsChannel: `${tag}:registrations`,
    publish: (channel: string, message: string): Effect.Effect<number, Redis.RedisError> =>
      Effect.map(redis.send<number>("PUBLISH", channel, message), Number)
  }
}

/** The directory operations of one cluster. */
export type RedisDirectory = ReturnType<typeof make>
