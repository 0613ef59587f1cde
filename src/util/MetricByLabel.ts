/**
 * Metrics with one label, for the gateway's and the agent's metrics: one metric per label value,
 * built on first use and kept, so the label values must come from small fixed sets.
 *
 * @since 0.1.0
 */

/** Returns the metric for a label value, making it with `make` the first time. */
export const byLabel = <K extends string | number, M>(make: (key: K) => M): (key: K) => M => {
  const metrics = new Map<K, M>()
  return (key) => {
    let metric = metrics.get(key)
    if (metric === undefined) {
      metric = make(key)
      metrics.set(key, metric)
    }
    return metric
  }
}
