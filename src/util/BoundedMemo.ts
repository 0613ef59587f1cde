/**
 * A bounded memo: a synchronous map that forgets its oldest entry when full.
 *
 * @since 0.1.0
 */

/**
 * Returns a map of at most `capacity` entries: when full, the oldest entry is dropped to make room.
 * For values that are costly to rebuild (imported keys, decoded DIDs) and seen again soon.
 */
export const boundedMemo = <K, V>(capacity: number) => {
  const entries = new Map<K, V>()
  return {
    get: (key: K): V | undefined => entries.get(key),
    set: (key: K, value: V): void => {
      // A key it holds is replaced in place: nothing else needs to go.
      if (entries.size >= capacity && !entries.has(key)) entries.delete(entries.keys().next().value as K)
      entries.set(key, value)
    },
    delete: (key: K): boolean => entries.delete(key)
  }
}
