/**
 * `npm run vectors`: rewrites test/vectors/envelopes.json and negative.json from build.ts.
 */
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { build } from "./build.ts"

const { envelopes, negative } = await Effect.runPromise(build)
const write = (name: string, description: string, vectors: unknown) =>
  writeFileSync(new URL(name, import.meta.url), JSON.stringify({ description, vectors }, null, 2) + "\n")

write(
  "envelopes.json",
  "IoAP v1 envelopes of every type, signed from fixed seeds (see docs/PROTOCOL.md, Test vectors). Each frame is accepted by a receiver configured with its context.",
  envelopes
)
write(
  "negative.json",
  "Frames an IoAP v1 receiver must refuse, each with the error code and the section 2 step that refuses it, under its context.",
  negative
)
console.log(`wrote ${envelopes.length} envelope vectors and ${negative.length} negative vectors`)
