/**
 * Compares two V8 heap snapshots (from the soak's HOSTILE_BENCH_SOAK_HEAP): objects counted and
 * summed by constructor (other nodes by their kind), and what grew most between the two.
 *
 *   npx node bench/hostile/heapDiff.ts <early.heapsnapshot> <late.heapsnapshot> [top=25]
 */
import { readFileSync } from "node:fs"

interface Snapshot {
  readonly snapshot: { readonly meta: { readonly node_fields: ReadonlyArray<string>; readonly node_types: ReadonlyArray<unknown> } }
  readonly nodes: ReadonlyArray<number>
  readonly strings: ReadonlyArray<string>
}

/** Count and self size by constructor (objects, closures) or by node kind (strings, arrays, code, …). */
const tally = (file: string) => {
  const heap = JSON.parse(readFileSync(file, "utf8")) as Snapshot
  const fields = heap.snapshot.meta.node_fields
  const types = heap.snapshot.meta.node_types[0] as ReadonlyArray<string>
  const width = fields.length
  const typeAt = fields.indexOf("type")
  const nameAt = fields.indexOf("name")
  const sizeAt = fields.indexOf("self_size")
  const byName = new Map<string, { count: number; bytes: number }>()
  for (let i = 0; i < heap.nodes.length; i += width) {
    const type = types[heap.nodes[i + typeAt]!]!
    const key = type === "object" || type === "closure" ? `${type} ${heap.strings[heap.nodes[i + nameAt]!]}` : type
    const entry = byName.get(key) ?? { count: 0, bytes: 0 }
    entry.count++
    entry.bytes += heap.nodes[i + sizeAt]!
    byName.set(key, entry)
  }
  return byName
}

const [early, late] = [process.argv[2], process.argv[3]]
if (early === undefined || late === undefined) {
  console.error("usage: npx node bench/hostile/heapDiff.ts <early.heapsnapshot> <late.heapsnapshot> [top]")
  process.exit(2)
}
const top = Number(process.argv[4] ?? 25)
const a = tally(early)
const b = tally(late)
const total = (m: Map<string, { bytes: number }>) => [...m.values()].reduce((n, e) => n + e.bytes, 0)
console.log(`self size in all: ${(total(a) / 2 ** 20).toFixed(1)} MiB → ${(total(b) / 2 ** 20).toFixed(1)} MiB`)
const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
  const before = a.get(key) ?? { count: 0, bytes: 0 }
  const after = b.get(key) ?? { count: 0, bytes: 0 }
  return { key, before, after, grew: after.bytes - before.bytes }
})
rows.sort((x, y) => y.grew - x.grew)
console.log("grew most (bytes of self size; count before → after):")
for (const row of rows.slice(0, top)) {
  console.log(
    `${(row.grew / 1024).toFixed(0).padStart(8)} KiB  ${String(row.before.count).padStart(8)} → ${String(row.after.count).padEnd(8)} ${row.key.slice(0, 90)}`
  )
}
