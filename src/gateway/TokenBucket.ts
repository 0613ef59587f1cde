/**
 * Token buckets: the rate limits of the gateway (per session, per destination, per IP).
 *
 * Pure and synchronous: callers pass the current time (from Effect's `Clock`, so tests can use
 * the TestClock), and a bucket is a small mutable record kept by whoever owns the limit.
 *
 * @since 0.1.0
 */

/** A rate: `perSecond` tokens refill each second, up to `burst` held at once. */
export interface Rate {
  readonly perSecond: number
  readonly burst: number
}

/** One bucket's state. */
export interface TokenBucket {
  readonly rate: Rate
  tokens: number
  updatedAt: number
}

/** A full bucket at time `now`. */
export const make = (rate: Rate, now: number): TokenBucket => ({ rate, tokens: rate.burst, updatedAt: now })

/** Refills for the time passed, then takes one token; `false` when the bucket is empty. */
export const take = (bucket: TokenBucket, now: number): boolean => {
  const elapsed = now - bucket.updatedAt
  if (elapsed > 0) {
    bucket.tokens = Math.min(bucket.rate.burst, bucket.tokens + (elapsed * bucket.rate.perSecond) / 1000)
    bucket.updatedAt = now
  }
  if (bucket.tokens < 1) return false
  bucket.tokens -= 1
  return true
}

/** Whether a bucket would be full at `now` (it can be forgotten without changing behaviour). */
export const isFull = (bucket: TokenBucket, now: number): boolean =>
  bucket.tokens + ((now - bucket.updatedAt) * bucket.rate.perSecond) / 1000 >= bucket.rate.burst

/**
 * Buckets keyed by a string (an IP address, a DID), at most `capacity` of them: full buckets are
 * forgotten first; when every bucket is in use the key is refused, which fails closed. Full
 * buckets are also swept after as many new keys as the map held after the last sweep (at least
 * 1,024), so the map follows the keys in use rather than growing to `capacity` (a sweep costs
 * O(size), amortized O(1) per new key).
 */
export const keyed = (rate: Rate, capacity: number) => {
  const buckets = new Map<string, TokenBucket>()
  let newKeys = 0
  let sweepAfter = 1024
  const sweep = (now: number) => {
    for (const [key, bucket] of buckets) if (isFull(bucket, now)) buckets.delete(key)
    newKeys = 0
    sweepAfter = Math.max(1024, buckets.size)
  }
  return {
    take: (key: string, now: number): boolean => {
      let bucket = buckets.get(key)
      if (bucket === undefined) {
        if (buckets.size >= capacity || ++newKeys >= sweepAfter) sweep(now)
        if (buckets.size >= capacity) return false
        bucket = make(rate, now)
        buckets.set(key, bucket)
      }
      return take(bucket, now)
    },
    /** Whether the bucket of `key` is full at `now` (a key without a bucket has a full one). */
    isFull: (key: string, now: number): boolean => {
      const bucket = buckets.get(key)
      return bucket === undefined || isFull(bucket, now)
    },
    size: () => buckets.size
  }
}
