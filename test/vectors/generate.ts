/**
 * `npm run vectors`: rewrites test/vectors/envelopes.json and negative.json from build.ts.
 */
import { writeFileSync } from "node:fs"
import { Effect } from "effect"
import { build } from "./build.ts"
import * as Describe from "./describe.ts"

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
const describe = await Effect.runPromise(Describe.build)
writeFileSync(
  new URL("describe.json", import.meta.url),
  JSON.stringify({
    description: "ioap.describe (PROTOCOL.md 5.3): input schemas at and over the limits (8 KiB of compact UTF-8 JSON, depth 16), answers a receiver reads or refuses, and a signed request/answer pair.",
    ...describe
  }, null, 2) + "\n"
)
console.log(`wrote ${envelopes.length} envelope vectors and ${negative.length} negative vectors`)
