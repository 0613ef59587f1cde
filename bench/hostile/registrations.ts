/**
 * Lean registrations for `npm run bench -- hostile`: argv[2] `{"url","agents","sources","concurrency"}`.
 * Registers `agents` bare `ws` clients (keys made before the clock starts, REGISTER signed with
 * node:crypto) from the source addresses, `concurrency` at a time, and emits
 * `{"event":"registered","ms","failed"}`: the gateway's registration rate without a client
 * library's cost in the way. Exits when stdin closes.
 */
import type WebSocket from "ws"
import { Effect } from "effect"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as Clients from "../gateway/clients.ts"
import { commands, emit } from "../gateway/common.ts"

const job = JSON.parse(process.argv[2] ?? "{}") as { url: string; agents: number; sources: ReadonlyArray<string>; concurrency: number }
const identities = Array.from({ length: job.agents }, () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer)))
const sockets: Array<WebSocket> = []
commands(() => undefined)

let next = 0
let failed = 0
const t0 = performance.now()
const worker = async () => {
  while (next < job.agents) {
    const i = next++
    try {
      sockets.push(await Clients.gateway(job.url, identities[i]!, 30_000, { localAddress: job.sources[i % job.sources.length]! }))
    } catch {
      failed++
    }
  }
}
await Promise.all(Array.from({ length: job.concurrency }, worker))
emit({ event: "registered", ms: Math.round(performance.now() - t0), failed })
