/**
 * Lean agents for the reconnection herd of `npm run bench -- hostile`: argv[2]
 * `{"url","agents","sources":[loopback addresses]}`. Each agent is a bare `ws` client (key made
 * before the clock starts, REGISTER signed with node:crypto, the gateway's replies not verified)
 * that reconnects on the client's own default schedule (`Backoff.defaultReconnect`: a fresh
 * schedule whenever a registered session is lost, its first delay before the first dial). What
 * it leaves out is the client library's own CPU, so that the generator, which shares the
 * machine with the gateway, costs as little as it can; `reconnect.ts` runs real GatewayClients.
 * Emits `ready` once all registered; answers `count` and `attempts` (herdRecord.ts). Exits when
 * stdin closes.
 */
import { Effect } from "effect"
import WebSocket from "ws"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { emit, signSync } from "../gateway/common.ts"
import { freshSchedule, nextDelay } from "../gateway/reconnectDelays.ts"
import * as HerdRecord from "./herdRecord.ts"

const job = JSON.parse(process.argv[2] ?? "{}") as { url: string; agents: number; sources: ReadonlyArray<string> }
const identities = Array.from({ length: job.agents }, () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer)))

const recorded = HerdRecord.record(job.agents)

/** One agent: dials, registers, and on losing its session dials again on the default schedule. */
const agent = (index: number, onFirstRegistration: () => void) => {
  const identity = identities[index]!
  const localAddress = job.sources[index % job.sources.length]!
  let step = freshSchedule()
  let registeredOnce = false
  const dial = () => {
    recorded.dialled(index)
    const socket = new WebSocket(job.url, ["ioap.v1"], {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      localAddress,
      // As the client's default open timeout.
      handshakeTimeout: 10_000
    })
    let registered = false
    socket.on("error", () => undefined)
    socket.on("message", (data: Buffer) => {
      const frame = data.toString()
      if (registered) return
      if (frame.includes("\"type\":\"CHALLENGE\"")) {
        const challenge = JSON.parse(frame) as { from: Identity.Identity["did"]; payload: { nonce: string } }
        socket.send(signSync(identity, { type: "REGISTER", to: challenge.from, payload: { nonce: challenge.payload.nonce, endpoint: job.url, capabilities: [] } }))
      } else if (frame.includes("\"type\":\"REGISTERED\"")) {
        registered = true
        recorded.registered(index)
        step = freshSchedule()
        if (!registeredOnce) {
          registeredOnce = true
          onFirstRegistration()
        }
      }
    })
    socket.on("close", () => {
      // A registered session lost: a fresh schedule, whose first delay comes before the first dial.
      setTimeout(dial, nextDelay(step))
    })
  }
  dial()
}

const started = performance.now()
let registered = 0
let next = 0
// The first registrations 64 at a time (each agent starts once the one before it in its lane registered).
const lane = () => {
  if (next >= job.agents) return
  agent(next++, () => {
    registered++
    if (registered === job.agents) emit({ event: "ready", ms: Math.round(performance.now() - started), rssMiB: Math.round(process.memoryUsage().rss / 2 ** 20) })
    lane()
  })
}
for (let i = 0; i < 64; i++) lane()
