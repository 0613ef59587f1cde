/**
 * A load generator of `npm run bench -- scale`, in a process of its own: many lean idle agents
 * (bare `ws` clients of bench/gateway/clients.ts) dialled from one loopback source address, so
 * that several generators together hold more connections than one address has ephemeral ports.
 *
 * argv[2] is a JSON job `{kind: "gateway"|"raw", urls, count, localAddress, concurrency}`: agent i
 * dials `urls[i % urls.length]`. Commands on stdin (answers are JSON lines on stdout):
 * - `connect <n>`: opens (and registers) the first `n` agents not yet open, `concurrency` at once; answers
 *   `connected` with the count, failures, wall time and each connect's time (open to REGISTERED).
 * - `heartbeat <ms>`: every agent sends a heartbeat every `ms` (their phases spread evenly);
 *   `heartbeat 0` stops them. Answers `heartbeat`.
 * - `reconnect <json urls>`: from now on an agent whose socket closes dials again (its index picks
 *   one of `urls`) with the client's backoff (src/client/Backoff.ts) until it is registered; answers `reconnect`. When no
 *   agent is down any more after at least one was, emits `back` with the per-agent times (close to
 *   REGISTERED) and the time from the first close to the last registration.
 * - `stats`: answers `stats` (open sockets, heartbeats sent, answers received).
 * - `exit`.
 */
import { Effect } from "effect"
import type WebSocket from "ws"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as Clients from "../gateway/clients.ts"
import { commands, emit, pool, signSync, sleep } from "../gateway/common.ts"
import { freshSchedule, nextDelay } from "../gateway/reconnectDelays.ts"

const signedPing = process.env.SCALE_BENCH_SIGNED_PING === "1"

interface Job {
  readonly kind: "gateway" | "raw"
  readonly urls: ReadonlyArray<string>
  readonly count: number
  readonly localAddress: string
  readonly concurrency: number
}

const job = JSON.parse(process.argv[2] ?? "{}") as Job

/**
 * The heartbeat an idle agent sends (kept in this one function so that a change of the heartbeat's
 * wire format is made here alone): the unsigned heartbeat frame (PROTOCOL.md 4.4), answered by
 * its constant acknowledgement; the signed PING of older clients with `SCALE_BENCH_SIGNED_PING=1`.
 */
const heartbeatFrame = (identity: Identity.Identity, gateway: Identity.Identity["did"], sequence: number): string =>
  signedPing ? signSync(identity, { type: "PING", to: gateway, payload: { sequence } }) : Heartbeat.FRAME

interface Agent {
  readonly index: number
  readonly identity: Identity.Identity
  socket: WebSocket | undefined
  gateway: Identity.Identity["did"] | undefined
  sequence: number
  /** When its socket closed (performance.now()), while it is down. */
  downSince: number | undefined
}

const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
const agents: Array<Agent> = Array.from({ length: job.count }, (_, index) => ({
  index,
  identity: generate(),
  socket: undefined,
  gateway: undefined,
  sequence: 0,
  downSince: undefined
}))

let urls = job.urls
let reconnecting = false
let answers = 0
let heartbeatsSent = 0
let down = 0
let firstDown: number | undefined
let backTimes: Array<number> = []
let failedReconnects = 0

/** Opens one agent's socket (registering it with the gateway); resolves once it is ready. */
const dial = async (agent: Agent): Promise<void> => {
  const url = urls[agent.index % urls.length]!
  const socket = job.kind === "gateway"
    ? await Clients.gateway(url, agent.identity, 60_000, {
      localAddress: job.localAddress,
      onRegistered: (did) => void (agent.gateway = did as Identity.Identity["did"])
    })
    : await Clients.raw(url, agent.identity.did, 60_000, job.localAddress)
  agent.socket = socket
  socket.on("message", () => void answers++)
  socket.on("close", () => {
    if (agent.socket !== socket) return
    agent.socket = undefined
    if (reconnecting) void redial(agent)
  })
}

/** Dials an agent whose socket closed until it is registered again, and records how long it took. */
const redial = async (agent: Agent) => {
  const now = performance.now()
  agent.downSince = now
  firstDown ??= now
  down++
  // The client's reconnection delays (src/client/Backoff.ts), a fresh run for each lost session.
  const step = freshSchedule()
  for (;;) {
    await sleep(nextDelay(step))
    try {
      await dial(agent)
      break
    } catch {
      failedReconnects++
    }
  }
  const back = performance.now()
  backTimes.push(back - agent.downSince)
  agent.downSince = undefined
  if (--down === 0) {
    emit({ event: "back", agents: backTimes.length, failedReconnects, totalMs: back - firstDown!, samples: backTimes })
    backTimes = []
    firstDown = undefined
    failedReconnects = 0
  }
}

let heartbeatTimers: Array<ReturnType<typeof setInterval>> = []
const startHeartbeats = (intervalMs: number) => {
  for (const timer of heartbeatTimers) clearInterval(timer)
  heartbeatTimers = []
  if (intervalMs <= 0 || job.kind !== "gateway") return
  // A few timers, each sending for its slice of the agents: phases spread over the interval.
  const slices = Math.max(1, Math.min(200, Math.floor(intervalMs / 50)))
  for (let slice = 0; slice < slices; slice++) {
    const start = setTimeout(() => {
      const beat = () => {
        for (let i = slice; i < agents.length; i += slices) {
          const agent = agents[i]!
          if (agent.socket === undefined || agent.gateway === undefined) continue
          agent.socket.send(heartbeatFrame(agent.identity, agent.gateway, agent.sequence++))
          heartbeatsSent++
        }
      }
      beat()
      heartbeatTimers.push(setInterval(beat, intervalMs))
    }, (intervalMs * slice) / slices)
    heartbeatTimers.push(start as unknown as ReturnType<typeof setInterval>)
  }
}

/** Connects the first `target` agents (those not connected yet). */
const connect = async (target: number) => {
  const samples: Array<number> = []
  let failed = 0
  const started = performance.now()
  await pool(agents.slice(0, target).filter((agent) => agent.socket === undefined), job.concurrency, async (agent) => {
    const t0 = performance.now()
    try {
      await dial(agent)
      samples.push(performance.now() - t0)
    } catch (cause) {
      if (failed++ < 3) console.error(`[agents ${job.localAddress}] connect failed: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  })
  emit({ event: "connected", count: samples.length, failed, ms: performance.now() - started, samples })
}

emit({ event: "ready", agents: agents.length })
commands((line) => {
  const [name, argument] = [line.split(" ", 1)[0], line.slice(line.indexOf(" ") + 1)]
  if (name === "connect") {
    void connect(Number(argument))
  } else if (name === "heartbeat") {
    startHeartbeats(Number(argument))
    emit({ event: "heartbeat" })
  } else if (name === "reconnect") {
    urls = JSON.parse(argument) as Array<string>
    reconnecting = true
    emit({ event: "reconnect" })
  } else if (name === "stats") {
    emit({ event: "stats", open: agents.filter((agent) => agent.socket !== undefined).length, heartbeatsSent, answers, down })
  } else if (name === "exit") {
    process.exit(0)
  }
})
