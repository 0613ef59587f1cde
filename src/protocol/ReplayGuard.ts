/**
 * The replay record of PROTOCOL.md section 2: which (`from`, `id`) pairs were accepted.
 *
 * A record lives until its envelope's own timestamp plus the allowed skew, after which the skew
 * check alone refuses the envelope. Memory is bounded per sender and in total; when a quota is
 * full the guard fails closed (the caller answers RATE_LIMITED) and never evicts a live record,
 * since an evicted record would let that envelope be replayed.
 *
 * @since 0.1.0
 */

/** Bounds of a replay guard. */
export interface ReplayGuardOptions {
  /** Live records kept for one sender (default 4096). */
  readonly maxPerSender?: number
  /** Live records kept in all (default 65536). */
  readonly maxTotal?: number
}

interface SenderRecords {
  /** Each record's expiry, in ms after the guard's `#origin` (see `Guard`). */
  readonly expiries: Map<string, number>
  /** The earliest expiry held, in ms since the epoch. */
  nextExpiry: number
  /** How many records the last sweep left: the next one waits until there are twice as many. */
  swept: number
}

// A sender's expired records are swept once it holds twice as many as the last sweep left (and
// at least this many): an agent that only PINGs keeps a handful, at O(1) amortised per record.
const SWEEP_AT_LEAST = 16

/** What `check` found. */
export type ReplayStatus = "fresh" | "replayed" | "full"

/** What `record` did. */
export type RecordStatus = "recorded" | "replayed" | "full"

/** A per-session (or per-connection) replay record. */
export interface ReplayGuard {
  /** Whether (`from`, `id`) may be accepted now, without recording it. */
  readonly check: (from: string, id: string, now: number) => ReplayStatus
  /** Records (`from`, `id`) until `expiresAt`; "replayed" or "full" record nothing. */
  readonly record: (from: string, id: string, expiresAt: number, now: number) => RecordStatus
  /** How many live and expired-but-unswept records are held. */
  readonly size: () => number
}

/**
 * The records, kept in one object per guard (a receiver holds one guard per session, so its
 * methods live on the prototype rather than in closures).
 *
 * The first record waits in three fields and moves into the maps at the next call: a gateway
 * session's guard often holds just its REGISTER for as long as the agent stays idle, and the two
 * maps for it cost about 0.5 KiB (more than the session object itself).
 *
 * Expiries are kept in the maps as milliseconds after the guard's first record (`#origin`), not
 * since the epoch: for about 24 days after it they are small integers that V8 stores in the map
 * itself, where an epoch time (over 2^31) is a separate heap object per record, which a relaying
 * session makes thousands of per second and the garbage collector copies and marks.
 */
class Guard implements ReplayGuard {
  readonly #maxPerSender: number
  readonly #maxTotal: number
  #senders: Map<string, SenderRecords> | undefined = undefined
  #total = 0
  #firstFrom: string | undefined = undefined
  #firstId = ""
  #firstExpiry = 0
  /** What stored expiries count from (ms since the epoch): the first record's expiry. */
  #origin = 0

  constructor(maxPerSender: number, maxTotal: number) {
    this.#maxPerSender = maxPerSender
    this.#maxTotal = maxTotal
  }

  /** The maps, with the first record moved into them (`undefined` while nothing was recorded). */
  #records(): Map<string, SenderRecords> | undefined {
    if (this.#firstFrom !== undefined) {
      const expiries = new Map([[this.#firstId, this.#firstExpiry - this.#origin]])
      this.#senders = new Map([[this.#firstFrom, { expiries, nextExpiry: this.#firstExpiry, swept: 0 }]])
      this.#firstFrom = undefined
      this.#firstId = ""
    }
    return this.#senders
  }

  #sweep(from: string, records: SenderRecords, now: number): void {
    if (now < records.nextExpiry) return
    const relativeNow = now - this.#origin
    let next = Infinity
    for (const [id, expiry] of records.expiries) {
      if (expiry <= relativeNow) {
        records.expiries.delete(id)
        this.#total--
      } else if (expiry < next) {
        next = expiry
      }
    }
    records.nextExpiry = next + this.#origin
    records.swept = records.expiries.size
    if (records.expiries.size === 0) this.#senders?.delete(from)
  }

  #sweepAll(now: number): void {
    const senders = this.#records()
    if (senders !== undefined) for (const [from, records] of senders) this.#sweep(from, records, now)
  }

  #hasRoom(records: SenderRecords | undefined, from: string, now: number): boolean {
    if (records !== undefined && records.expiries.size >= this.#maxPerSender) this.#sweep(from, records, now)
    if (this.#total >= this.#maxTotal) this.#sweepAll(now)
    return this.#total < this.#maxTotal && (records === undefined || records.expiries.size < this.#maxPerSender)
  }

  check(from: string, id: string, now: number): ReplayStatus {
    const records = this.#records()?.get(from)
    const expiry = records?.expiries.get(id)
    if (expiry !== undefined && expiry > now - this.#origin) return "replayed"
    return this.#hasRoom(records, from, now) ? "fresh" : "full"
  }

  record(from: string, id: string, expiresAt: number, now: number): RecordStatus {
    if (this.#total === 0 && this.#senders === undefined && this.#maxTotal > 0) {
      // What the maps would do with a first record (there is room for it), without the maps.
      this.#firstFrom = from
      this.#firstId = id
      this.#firstExpiry = expiresAt
      this.#origin = expiresAt
      this.#total = 1
      return "recorded"
    }
    const senders = this.#records() ?? (this.#senders = new Map())
    let records = senders.get(from)
    const existing = records?.expiries.get(id)
    if (existing !== undefined && existing > now - this.#origin) return "replayed"
    if (!this.#hasRoom(records, from, now)) return "full"
    // A sweep in `#hasRoom` may have dropped the sender's records (and an expired `id` with them).
    if (records === undefined || records.expiries.size === 0) {
      records = senders.get(from)
      if (records === undefined) {
        records = { expiries: new Map(), nextExpiry: Infinity, swept: 0 }
        senders.set(from, records)
      }
    }
    if (existing === undefined || !records.expiries.has(id)) this.#total++
    records.expiries.set(id, expiresAt - this.#origin)
    if (expiresAt < records.nextExpiry) records.nextExpiry = expiresAt
    if (records.expiries.size >= Math.max(SWEEP_AT_LEAST, 2 * records.swept)) this.#sweep(from, records, now)
    return "recorded"
  }

  size(): number {
    return this.#total
  }
}

/** A new, empty replay guard. */
export const make = (options: ReplayGuardOptions = {}): ReplayGuard =>
  new Guard(options.maxPerSender ?? 4096, options.maxTotal ?? 65536)
