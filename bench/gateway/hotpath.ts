/**
 * The gateway's relay hot path in one process, without sockets: two registered sessions
 * (`Session.start` on the node's real services) and pre-signed ~600-byte OFFERs handed to one of
 * them, `FRAMES` at a time per turn of the event loop, each delivered to the other's stand-in
 * socket. Prints the process CPU time per frame, best and median of `RUNS` runs, for verify off
 * and on: the per-frame JavaScript the relay adds, apart from the kernel's socket work and `ws`
 * (which `npm run bench -- gateway` includes). A diagnostic, not one of the benchmark's rows.
 *
 *   npx node bench/gateway/hotpath.ts [frames per turn = 1] [runs = 7]
 */
import { Effect, Layer } from "effect"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import * as DialledUrl from "../../src/gateway/DialledUrl.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Session from "../../src/gateway/Session.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { offerDraft, signSync } from "./common.ts"

const FRAMES = Number(process.argv[2] ?? 1)
const RUNS = Number(process.argv[3] ?? 7)
const PER_RUN = 20_000
const HUGE = { perSecond: 1e9, burst: 1e9 }

const turn = () => new Promise<void>((resolve) => setImmediate(resolve))
const cpuUs = () => {
  const { user, system } = process.cpuUsage()
  return user + system
}

/** A socket stand-in: keeps the last frame sent, counts them. */
class Sink implements Session.Connection {
  sent = 0
  last = ""
  readonly dialled = DialledUrl.dialled("127.0.0.1:1", undefined, false)
  send(frame: string): void {
    this.sent++
    this.last = frame
  }
  close(): void {}
  bufferedBytes(): number {
    return 0
  }
  pause(): void {}
  resume(): void {}
  abort(): void {}
}

const measure = async (verify: boolean) => {
  const config = GatewayConfig.make({
    verifyRelaySignatures: verify,
    sessionRate: HUGE,
    destinationRate: HUGE,
    maxReplayRecords: 1e7,
    skewMs: 3_600_000,
    sessionTimeoutMs: 3_600_000,
    publicUrls: []
  })
  const layer = Layer.mergeAll(AgentRegistry.layerMemory, Router.layerMemory, NodeEd25519.layer)
  const gateway = Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
  const node = Effect.runSync(Effect.provide(Session.makeNode({ config, identity: gateway, rates: Session.makeRates(config) }), layer))
  const agents = Effect.runSync(Effect.provide(Effect.all([Identity.generate, Identity.generate]), NodeEd25519.layer))
  const sinks = [new Sink(), new Sink()]
  const sessions = sinks.map((sink) => Session.start(node, sink))
  for (const [i, session] of sessions.entries()) {
    const nonce = (JSON.parse(sinks[i]!.last) as { payload: { nonce: string } }).payload.nonce
    session.receive(signSync(agents[i]!, {
      type: "REGISTER",
      to: gateway.did,
      payload: { nonce, endpoint: "ws://127.0.0.1:1/ws", capabilities: [] }
    }))
    await turn()
    if (!sinks[i]!.last.includes("\"REGISTERED\"")) throw new Error(`agent ${i} did not register: ${sinks[i]!.last.slice(0, 200)}`)
  }
  const results: Array<number> = []
  for (let run = 0; run < RUNS + 1; run++) {
    const frames = Array.from({ length: PER_RUN }, () => signSync(agents[0]!, offerDraft(agents[0]!, agents[1]!.did)))
    const before = sinks[1]!.sent
    const start = cpuUs()
    for (let i = 0; i < PER_RUN; i += FRAMES) {
      for (let j = i; j < i + FRAMES && j < PER_RUN; j++) sessions[0]!.receive(frames[j]!)
      await turn()
    }
    const us = (cpuUs() - start) / PER_RUN
    if (sinks[1]!.sent - before !== PER_RUN) throw new Error(`relayed ${sinks[1]!.sent - before} of ${PER_RUN}`)
    if (run > 0) results.push(us) // the first run warms up
  }
  results.sort((a, b) => a - b)
  return { best: results[0]!, median: results[Math.floor(results.length / 2)]! }
}

// The loop alone (a turn per FRAMES and nothing else), to subtract.
const loopOnly = async () => {
  const start = cpuUs()
  for (let i = 0; i < PER_RUN; i += FRAMES) await turn()
  return (cpuUs() - start) / PER_RUN
}

await loopOnly()
const loop = await loopOnly()
for (const verify of [false, true]) {
  const { best, median } = await measure(verify)
  console.log(`verify ${verify ? "on " : "off"}: ${FRAMES} frame(s) per turn, CPU µs/frame best ${best.toFixed(2)} median ${median.toFixed(2)} (the loop alone ${loop.toFixed(2)})`)
}
process.exit(0)
