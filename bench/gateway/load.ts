/**
 * The load generator of `npm run bench -- gateway`, in a process of its own.
 *
 * argv[2] is a JSON job:
 * - `{"mode":"relay","kind":"gateway"|"raw"|"peer","url",urls?,pairs,window,warmupMs,durationMs,presign,
 *   pacedRate,pacedWarmupMs,pacedDurationMs}`:
 *   connects `pairs` pairs of agents (agent i to `urls[i % urls.length]` when given: with two
 *   cluster nodes, every pair spans both; with `"placement":"pairs"`, pair p to
 *   `urls[p % urls.length]`: both agents of each pair on one node, the pairs spread over them); each keeps `window` ~600-byte OFFERs in flight to its
 *   partner (a new one leaves when one from the partner arrives; `durationMs` 0 skips this
 *   saturated phase). For the gateway every
 *   envelope is signed before the timed window (`presign` per agent; more are signed on the fly
 *   if they run out, and counted). Emits `ready`, `window-start`, `window-end` (msgs/s, latency).
 *   Then, with `pacedRate` > 0, a second phase: `pacedRate` messages per second in all, sent on
 *   a timer round-robin over the agents (not answered), below every server's capacity, so
 *   latency is the relay's own and CPU per message is compared at the same load; it emits
 *   `window-start` and `window-end` again with `phase: "paced"`.
 * - `{"mode":"idle","kind":"gateway"|"raw","url",concurrency,heartbeat?,intervalMs?}`: on each
 *   `to N` from stdin, connects (and registers) idle agents until N are open, then emits `stage`.
 *   On `beat` every agent starts its heartbeat, one per `intervalMs` each, spread evenly over the
 *   interval: `heartbeat` "frame" (the gateway's unsigned HEARTBEAT frame, or the same tiny
 *   message to the raw server), "ping" (a signed PING envelope, as clients before the heartbeat
 *   frame sent) or "none". On `beats` it emits `beats` (sent, answered, late: no answer within
 *   an interval).
 * - `{"mode":"pingpong","url",intervalMs,phaseMs}`: one registered pair exchanging one signed
 *   OFFER at a time (A → B, B answers → A: one round trip) every `intervalMs`; emits `phase`
 *   `quiet`, waits for `go`, then emits `phase` `flood`.
 */
import { monitorEventLoopDelay } from "node:perf_hooks"
import { Effect } from "effect"
import type WebSocket from "ws"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as Clients from "./clients.ts"
import { commands, emit, FRAME_BYTES, frameId, offerDraft, pool, sdp, signSync, sleep, summarize } from "./common.ts"

interface RelayJob {
  readonly mode: "relay"
  readonly kind: "gateway" | "raw" | "peer"
  readonly url: string
  /** Gateway nodes to spread the agents over, round-robin (instead of `url`). */
  readonly urls?: ReadonlyArray<string>
  /** "alternate" (default): consecutive agents, so the two of a pair, on different URLs; "pairs": each pair on one URL. */
  readonly placement?: "alternate" | "pairs"
  readonly pairs: number
  readonly window: number
  readonly warmupMs: number
  readonly durationMs: number
  readonly presign: number
  /** Whether every envelope is signed (presigned: the gateway, and a raw server that verifies); by default only for the gateway. */
  readonly signed?: boolean
  /** Then, messages per second sent at a fixed pace (0: no paced phase). */
  readonly pacedRate: number
  readonly pacedWarmupMs: number
  readonly pacedDurationMs: number
}
interface IdleJob {
  readonly mode: "idle"
  readonly kind: "gateway" | "raw"
  readonly url: string
  readonly concurrency: number
  readonly heartbeat?: "frame" | "ping" | "none"
  readonly intervalMs?: number
}
interface PingPongJob {
  readonly mode: "pingpong"
  readonly url: string
  readonly intervalMs: number
  readonly phaseMs: number
}
type Job = RelayJob | IdleJob | PingPongJob

const job = JSON.parse(process.argv[2] ?? "{}") as Job
const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))

// Commands from the parent arrive as a queue of lines.
const pending: Array<string> = []
let waiter: ((line: string) => void) | undefined
commands((line) => {
  if (line === "exit") process.exit(0)
  if (waiter !== undefined) {
    const resolve = waiter
    waiter = undefined
    resolve(line)
  } else pending.push(line)
})
const command = () =>
  new Promise<string>((resolve) => {
    const line = pending.shift()
    if (line !== undefined) resolve(line)
    else waiter = resolve
  })

/** Where the first `"id":"…"` value of a frame starts, and that (36-character) id. */
const idAt = (text: string) => text.indexOf("\"id\":\"") + 6
const textId = (text: string): string => text.slice(idAt(text), idAt(text) + 36)

// ---------------------------------------------------------------------------
// relay
// ---------------------------------------------------------------------------

const relay = async (job: RelayJob) => {
  const count = job.pairs * 2
  const partner = (i: number) => i ^ 1
  const identities = Array.from({ length: count }, generate)
  const peerIds = identities.map((_, i) => `agent-${i}-${globalThis.crypto.randomUUID()}`)

  const sockets: Array<WebSocket> = new Array(count)
  await pool(identities, 20, async (identity, i) => {
    sockets[i] = job.kind === "gateway"
      ? await Clients.gateway(job.urls === undefined ? job.url : job.urls[(job.placement === "pairs" ? i >> 1 : i) % job.urls.length]!, identity)
      : job.kind === "raw"
      ? await Clients.raw(job.url, identity.did)
      : await Clients.peer(job.url, peerIds[i]!)
  })

  // The frames each agent sends, each with a unique id.
  let liveSigned = 0
  let nextFrame: (i: number) => string
  // Whether the paced phase runs: it takes its frames from a stock of its own, so a saturated phase
  // that used up its presigned frames does not leave the paced one signing on the fly (which would
  // take the generator ~70 % of a core beside the server it measures).
  let pacedStock = false
  if (job.kind === "gateway" || job.signed === true) {
    const started = performance.now()
    const paced = Math.ceil((job.pacedRate * (job.pacedWarmupMs + job.pacedDurationMs + 1000)) / 1000 / count)
    const sign = (length: number) =>
      identities.map((identity, i) => Array.from({ length }, () => signSync(identity, offerDraft(identity, identities[partner(i)]!.did))))
    const presigned = sign(job.presign)
    const presignedPaced = sign(paced)
    emit({ event: "presigned", envelopes: count * (job.presign + paced), ms: Math.round(performance.now() - started) })
    const used = new Array<number>(count).fill(0)
    const usedPaced = new Array<number>(count).fill(0)
    nextFrame = (i) => {
      const frames = pacedStock ? presignedPaced[i]! : presigned[i]!
      const k = pacedStock ? usedPaced[i]!++ : used[i]!++
      if (k < frames.length) {
        const frame = frames[k]!
        frames[k] = ""
        return frame
      }
      liveSigned++
      return signSync(identities[i]!, offerDraft(identities[i]!, identities[partner(i)]!.did))
    }
  } else if (job.kind === "raw") {
    // The same envelopes (one signed template per agent, with a fresh id each time).
    const templates = identities.map((identity, i) => signSync(identity, offerDraft(identity, identities[partner(i)]!.did)))
    nextFrame = (i) => {
      const template = templates[i]!
      const at = idAt(template)
      return template.slice(0, at) + globalThis.crypto.randomUUID() + template.slice(at + 36)
    }
  } else {
    // PeerJS's own message shape, padded to the same size; its id first in the payload.
    const make = (i: number, padding: number) =>
      JSON.stringify({
        type: "OFFER",
        payload: {
          id: globalThis.crypto.randomUUID(),
          connectionId: `dc_${globalThis.crypto.randomUUID().slice(0, 13)}`,
          type: "data",
          sdp: { type: "offer", sdp: sdp(padding) }
        },
        dst: peerIds[partner(i)]
      })
    const padding = FRAME_BYTES - make(0, 0).length
    nextFrame = (i) => make(i, padding)
  }
  const sample = nextFrame(0)
  emit({ event: "ready", agents: count, frameBytes: sample.length })

  const sentAt = new Map<string, number>()
  let latencies: Array<number> = []
  let received = 0
  let errors = 0
  let measuring = false
  // "window": each arrival sends the next; "drain" and "paced": arrivals send nothing.
  let phase: "window" | "drain" | "paced" = "window"
  const send = (i: number) => {
    const frame = nextFrame(i)
    sentAt.set(textId(frame), performance.now())
    sockets[i]!.send(frame)
  }
  sockets.forEach((socket, i) => {
    socket.on("message", (data: Buffer) => {
      const id = frameId(data)
      const at = id === undefined ? undefined : sentAt.get(id)
      if (at === undefined) errors++
      else {
        sentAt.delete(id!)
        if (measuring) {
          received++
          latencies.push(performance.now() - at)
        }
      }
      if (phase === "window") send(i)
    })
    socket.on("close", (code) => {
      if (phase !== "drain") emit({ event: "closed", agent: i, code })
    })
  })
  /** Measures for `ms`, emitting window-start and window-end (as `name`). */
  const measureWindow = async (name: string, ms: number) => {
    latencies = []
    received = 0
    const cpu0 = process.cpuUsage()
    const t0 = performance.now()
    measuring = true
    emit({ event: "window-start", phase: name })
    await sleep(ms)
    measuring = false
    const seconds = (performance.now() - t0) / 1000
    const cpu = process.cpuUsage(cpu0)
    emit({
      event: "window-end",
      phase: name,
      seconds,
      received,
      rate: received / seconds,
      errors,
      liveSigned,
      generatorCpu: (cpu.user + cpu.system) / 1e6 / seconds,
      latency: summarize(latencies)
    })
  }

  // durationMs 0: no saturated phase (only the paced one).
  if (job.durationMs > 0) {
    for (let k = 0; k < job.window; k++) for (let i = 0; i < count; i++) send(i)
    await sleep(job.warmupMs)
    await measureWindow("window", job.durationMs)
    phase = "drain"
    for (let waited = 0; sentAt.size > 0 && waited < 5000; waited += 50) await sleep(50)
    sentAt.clear()
  }

  if (job.pacedRate > 0) {
    phase = "paced"
    pacedStock = true
    const started = performance.now()
    let sent = 0
    const timer = setInterval(() => {
      const due = Math.floor(((performance.now() - started) * job.pacedRate) / 1000)
      for (; sent < due; sent++) send(sent % count)
    }, 2)
    await sleep(job.pacedWarmupMs)
    await measureWindow("paced", job.pacedDurationMs)
    clearInterval(timer)
    phase = "drain"
  }
  for (const socket of sockets) socket.terminate()
}

// ---------------------------------------------------------------------------
// idle
// ---------------------------------------------------------------------------

const idle = async (job: IdleJob) => {
  const sockets: Array<WebSocket> = []
  const agents: Array<{ readonly identity: Identity.Identity; readonly gatewayDid: string }> = []
  let failed = 0
  let closed = 0
  let beating: ReturnType<typeof setInterval> | undefined
  const beats = { sent: 0, answered: 0, late: 0 }
  const startBeating = () => {
    const intervalMs = job.intervalMs ?? 20_000
    const kind = job.heartbeat ?? "frame"
    if (kind === "none" || beating !== undefined) return
    // Per agent: when its last heartbeat left (0: answered).
    const waiting = new Float64Array(sockets.length)
    sockets.forEach((socket, i) => {
      socket.on("message", (data: Buffer) => {
        if (waiting[i] === 0) return
        const text = data.toString()
        if (kind === "frame" ? text === Heartbeat.ACK_FRAME : text.includes("\"type\":\"PONG\"")) {
          waiting[i] = 0
          beats.answered++
        }
      })
    })
    const started = performance.now()
    let next = 0
    // One timer for all agents: each tick sends the heartbeats that fell due (agent i at i/N of the interval).
    beating = setInterval(() => {
      const now = performance.now()
      const due = Math.floor(((now - started) * sockets.length) / intervalMs)
      for (; next < due; next++) {
        const i = next % sockets.length
        const socket = sockets[i]!
        if (socket.readyState !== socket.OPEN) continue
        if (waiting[i] !== 0 && now - waiting[i]! > intervalMs) beats.late++
        waiting[i] = now
        beats.sent++
        if (kind === "frame") socket.send(Heartbeat.FRAME)
        else {
          const agent = agents[i]!
          socket.send(signSync(agent.identity, { type: "PING", to: agent.gatewayDid as Identity.Identity["did"], payload: {} }))
        }
      }
    }, 10)
  }
  while (true) {
    const line = await command()
    if (line === "beat") {
      startBeating()
      continue
    }
    if (line === "beats") {
      emit({ event: "beats", ...beats })
      continue
    }
    if (!line.startsWith("to ")) break
    const target = Number(line.slice(3))
    const started = performance.now()
    const todo = Array.from({ length: Math.max(0, target - sockets.length) }, (_, k) => k)
    await pool(todo, job.concurrency, async () => {
      try {
        const identity = generate()
        let gatewayDid = ""
        const socket = job.kind === "gateway"
          ? await Clients.gateway(job.url, identity, 30_000, { onRegistered: (did) => void (gatewayDid = did) })
          : await Clients.raw(job.url, globalThis.crypto.randomUUID())
        socket.on("close", () => void closed++)
        sockets.push(socket)
        agents.push({ identity, gatewayDid })
      } catch (cause) {
        if (failed++ < 3) console.error(`idle connect failed: ${cause instanceof Error ? cause.message : String(cause)}`)
      }
    })
    emit({ event: "stage", count: sockets.length - closed, failed, closed, ms: Math.round(performance.now() - started) })
  }
  if (beating !== undefined) clearInterval(beating)
  for (const socket of sockets) socket.terminate()
}

// ---------------------------------------------------------------------------
// pingpong
// ---------------------------------------------------------------------------

const pingpong = async (job: PingPongJob) => {
  const alice = generate()
  const bob = generate()
  const a = await Clients.gateway(job.url, alice)
  const b = await Clients.gateway(job.url, bob)
  // Enough signed envelopes for one phase, signed just before it (outside its clock): an envelope
  // signed before the quiet phase would be too old by the end of a long attacked one (the gateway
  // refuses envelopes older than its skew, 60 s by default).
  const rounds = Math.ceil(job.phaseMs / job.intervalMs) + 50
  let toBob: Array<string> = []
  let toAlice: Array<string> = []
  let sentToBob = 0
  let sentToAlice = 0
  const signPhase = () => {
    toBob = Array.from({ length: rounds }, () => signSync(alice, offerDraft(alice, bob.did)))
    toAlice = Array.from({ length: rounds }, () => signSync(bob, offerDraft(bob, alice.did)))
    sentToBob = 0
    sentToAlice = 0
  }
  let errors = 0
  let answered: (() => void) | undefined
  b.on("message", (data: Buffer) => {
    if (data.includes("\"type\":\"OFFER\"")) b.send(toAlice[sentToAlice++ % rounds]!)
    else errors++
  })
  a.on("message", (data: Buffer) => {
    if (data.includes("\"type\":\"OFFER\"") && answered !== undefined) answered()
    else errors++
  })
  const closes: Array<number> = []
  a.on("close", (code) => closes.push(code))
  b.on("close", (code) => closes.push(code))

  // This process's own event-loop delay in each phase: the share of the round trips spent waiting here, not at the gateway.
  const ownLoop = monitorEventLoopDelay({ resolution: 10 })
  ownLoop.enable()
  const phase = async (name: string) => {
    const samples: Array<number> = []
    let lost = 0
    signPhase()
    ownLoop.reset()
    const end = performance.now() + job.phaseMs
    while (performance.now() < end) {
      const start = performance.now()
      const done = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1000)
        answered = () => {
          clearTimeout(timer)
          resolve(true)
        }
      })
      a.send(toBob[sentToBob++ % rounds]!)
      if (await done) samples.push(performance.now() - start)
      else lost++
      answered = undefined
      await sleep(Math.max(0, start + job.intervalMs - performance.now()))
    }
    const loop = { p99: ownLoop.percentile(99) / 1e6, max: ownLoop.max / 1e6 }
    emit({ event: "phase", name, lost, errors, closes, latency: summarize(samples), loop })
  }
  await phase("quiet")
  if ((await command()) !== "go") return
  await phase("flood")
  a.terminate()
  b.terminate()
}

const run = job.mode === "relay" ? relay(job) : job.mode === "idle" ? idle(job) : pingpong(job)
run.then(
  () => process.exit(0),
  (cause) => {
    console.error("load generator failed:", cause)
    process.exit(1)
  }
)
