/**
 * The event loop's time for sessions' frames, shared fairly between client addresses when it
 * runs short.
 *
 * Each frame's handling is timed and charged to the current turn of the loop. While the turn has
 * spent less than its budget a frame is handled at once. Past it, a frame is handled at once only
 * if its address had none handled since the budget was last renewed and has no session waiting
 * (an address whose frames already wait gets its share in turn, so a few hosts sending large
 * frames cannot each add one to every turn); every other frame waits
 * (its session holds it) and its session queues behind its address. Once per turn the budget is
 * renewed and the waiting sessions are served round-robin by address — one session's turn per
 * address in each round — until the budget is spent again.
 *
 * So one host whose sessions all send expensive requests at once (100 DISCOVERs in one turn, say)
 * is served a budget's worth per turn of the loop, in turn with every other address, instead of
 * holding the loop for all of them while an honest frame from another address waits behind them.
 * No frame is refused or dropped here, and no rate is limited: with the loop idle, everything runs
 * at once; under load, an address gets its share, however many sessions it holds (many honest
 * agents behind one NAT share their address's turn only while the loop is short of time).
 *
 * @since 0.1.0
 */

/** A session, as the share sees it. */
export interface Sharer {
  /** The client's address (the fair share is per address). */
  readonly address: string
  /** Its turn: it handles held frames while `LoopShare.mayRun` allows, and calls `wait` again if any are left. */
  readonly nextTurn: () => void
}

/** Time (ms) of frame handling per turn of the event loop before addresses take turns. */
export const TURN_BUDGET_MS = 1

const renew = (share: LoopShare) => share.renew()

export class LoopShare {
  readonly budgetMs: number
  #spent = 0
  #renewScheduled = false
  /** Addresses that had a frame handled past the budget since it was renewed. */
  readonly #served = new Set<string>()
  /** Sessions waiting for their turn, by address; the Map's order is the order addresses are served in. */
  readonly #waiting = new Map<string, Array<Sharer>>()
  readonly #now: () => number

  constructor(budgetMs: number = TURN_BUDGET_MS, now: () => number = () => performance.now()) {
    this.budgetMs = budgetMs
    this.#now = now
  }

  /** The clock frames are timed with (`performance.now()`). */
  now(): number {
    return this.#now()
  }

  /**
   * Whether a frame from `address` may be handled now: within the turn's budget, or past it the
   * first of an address with no session waiting (which it then marks).
   */
  mayRun(address: string): boolean {
    if (this.#spent < this.budgetMs) return true
    if (this.#served.has(address) || this.#waiting.has(address)) return false
    this.#served.add(address)
    return true
  }

  /** Charges `ms` of frame handling to the current turn. */
  spend(ms: number): void {
    this.#spent += ms
    this.#scheduleRenew()
  }

  /** `sharer` holds frames: it gets its turn after those waiting before it, its address in turn with the others. */
  wait(sharer: Sharer): void {
    const queue = this.#waiting.get(sharer.address)
    if (queue === undefined) this.#waiting.set(sharer.address, [sharer])
    else queue.push(sharer)
    this.#scheduleRenew()
  }

  /** How many sessions wait for their turn. */
  get waiting(): number {
    let n = 0
    for (const queue of this.#waiting.values()) n += queue.length
    return n
  }

  #scheduleRenew(): void {
    if (this.#renewScheduled) return
    this.#renewScheduled = true
    setImmediate(renew, this)
  }

  /** A new turn: the budget is renewed and waiting sessions are served, round-robin by address, until it is spent. */
  renew(): void {
    this.#renewScheduled = false
    this.#spent = 0
    this.#served.clear()
    while (this.#waiting.size > 0 && this.#spent < this.budgetMs) {
      const [address, queue] = this.#waiting.entries().next().value!
      // The address goes to the back of the order (or out of it, when this was its last session).
      this.#waiting.delete(address)
      const sharer = queue.shift()!
      if (queue.length > 0) this.#waiting.set(address, queue)
      sharer.nextTurn()
    }
    if (this.#waiting.size > 0) this.#scheduleRenew()
  }
}
