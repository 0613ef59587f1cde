/**
 * Agents for the agent attacks and faults of `npm run bench -- hostile`, one role per process.
 * argv[2]: `{"role","url","victim"?,"phaseMs"?,"limits"?}`. JSON lines out, commands in (`go`,
 * `stop`, `exit`).
 *
 * - victim: serves `echo` and `slow` (200 ms), takes every session, never reads INTENTs; emits
 *   `ready` with its DID.
 * - honest: a session with the victim, `echo` every 25 ms: emits `phase` (quiet), waits for `go`,
 *   emits `phase` (attacked); with `phaseMs` 0 it calls until `stop` and emits `calls` every
 *   second (for the faults).
 * - intent-flood: INTENTs as fast as the channel takes them, a new session whenever one ends.
 * - request-flood: 100 `slow` calls at once, again and again.
 * - many-sessions: 12 DIDs, each opening 6 sessions with the victim.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import type * as PeerLimits from "../../src/agent/PeerLimits.ts"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import type { Did } from "../../src/protocol/Did.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/stacks/NodeDataChannelTransport.ts"
import { commands, emit, summarize } from "../gateway/common.ts"

interface Job {
  readonly role: "victim" | "honest" | "intent-flood" | "request-flood" | "many-sessions"
  readonly url: string
  readonly victim?: Did
  readonly phaseMs?: number
  readonly limits?: Partial<PeerLimits.PeerLimits>
}
const job = JSON.parse(process.argv[2] ?? "{}") as Job

let go: (() => void) | undefined
let stopped = false
commands((line) => {
  if (line === "exit") process.exit(0)
  if (line === "go") go?.()
  if (line === "stop") stopped = true
})
const waitGo = () => new Promise<void>((resolve) => (go = resolve))

const platform = Layer.mergeAll(NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" }), KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor)

/** A new agent (its own DID) at the gateway, registered. */
const agent = (serve: Parameters<typeof Agent.layer>[0]["serve"] = [], limits?: Partial<PeerLimits.PeerLimits>) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const context = yield* Layer.build(
      Agent.layer({
        urls: [job.url],
        identity,
        candidatePolicy: CandidatePolicy.allowAll,
        serve,
        ...(limits === undefined ? {} : { limits })
      }).pipe(Layer.provide(platform))
    )
    yield* Context.get(context, GatewayClient).session
    return Context.get(context, Agent)
  })

const counts: Record<string, number> = {}
const count = (name: string) => void (counts[name] = (counts[name] ?? 0) + 1)

const victim = Effect.gen(function*() {
  const me = yield* agent([
    { capability: { id: "echo" }, handler: (args) => Effect.succeed(args) },
    { capability: { id: "slow" }, handler: (args) => Effect.as(Effect.sleep("200 millis"), args) }
  ], job.limits)
  // Takes every session; reads no INTENT (an application that does not keep up).
  yield* Effect.forkScoped(Stream.runForEach(me.sessions, () => Effect.sync(() => count("sessions taken"))))
  emit({ event: "ready", did: me.did })
  return yield* Effect.never
})

const honest = Effect.gen(function*() {
  const me = yield* agent()
  const session = yield* me.connect(job.victim!)
  const call = Effect.gen(function*() {
    const t0 = performance.now()
    const result = yield* Effect.result(session.request("echo", { t: t0 }, { timeoutMs: 2000 }))
    return result._tag === "Success" ? performance.now() - t0 : result.failure.code
  })
  /** Calls every 25 ms for `ms`: the latencies of those answered, and the others by outcome. */
  const callFor = (ms: number) =>
    Effect.gen(function*() {
      const samples: Array<number> = []
      const failures: Record<string, number> = {}
      const end = performance.now() + ms
      while (performance.now() < end) {
        const t0 = performance.now()
        const outcome = yield* call
        if (typeof outcome === "number") samples.push(outcome)
        else failures[outcome] = (failures[outcome] ?? 0) + 1
        yield* Effect.sleep(Math.max(0, t0 + 25 - performance.now()))
      }
      return { latency: summarize(samples), failures }
    })
  const phase = (name: string, ms: number) =>
    Effect.map(callFor(ms), (result) => emit({ event: "phase", name, ...result }))
  if ((job.phaseMs ?? 0) > 0) {
    yield* phase("quiet", job.phaseMs!)
    yield* Effect.promise(waitGo)
    yield* phase("attacked", job.phaseMs!)
    return
  }
  // Faults: call until stopped; each second, what happened in it; when the session ends.
  yield* Effect.forkScoped(Effect.andThen(session.ended, Effect.sync(() => emit({ event: "ended", at: Date.now() }))))
  emit({ event: "ready", did: me.did })
  while (!stopped) {
    const result = yield* callFor(1000)
    emit({ event: "calls", at: Date.now(), ...result })
  }
})

const intentFlood = Effect.gen(function*() {
  const me = yield* agent()
  emit({ event: "attacking" })
  while (!stopped) {
    yield* Effect.scoped(Effect.gen(function*() {
      const session = yield* me.connect(job.victim!)
      count("sessions")
      const flood = Effect.gen(function*() {
        while (!stopped) {
          yield* session.intent({ query: "x".repeat(200) })
          count("intents sent")
        }
      })
      yield* Effect.raceFirst(Effect.ignore(flood), session.ended)
      count("sessions ended")
    })).pipe(Effect.catch(() => Effect.sync(() => count("connect failed"))))
  }
})

const requestFlood = Effect.gen(function*() {
  const me = yield* agent()
  const session = yield* me.connect(job.victim!)
  emit({ event: "attacking" })
  while (!stopped) {
    yield* Effect.forEach(Array.from({ length: 100 }), () =>
      Effect.result(session.request("slow", {}, { timeoutMs: 5000 })).pipe(
        Effect.map((r) => count(r._tag === "Success" ? "served" : `refused ${r.failure.code}`))
      ), { concurrency: "unbounded", discard: true })
  }
})

const manySessions = Effect.gen(function*() {
  const agents = yield* Effect.forEach(Array.from({ length: 12 }), () => agent(), { concurrency: 4 })
  emit({ event: "attacking" })
  yield* Effect.forEach(agents, (a) =>
    Effect.forEach(Array.from({ length: 6 }), () =>
      a.connect(job.victim!).pipe(
        Effect.map(() => count("accepted")),
        Effect.catch((error) => Effect.sync(() => count(error._tag === "ConnectionRefused" ? `refused ${error.code}` : error._tag)))
      ), { concurrency: 2, discard: true }), { concurrency: 4, discard: true })
  emit({ event: "opened", counts })
  return yield* Effect.never
})

const roles = { victim, honest, "intent-flood": intentFlood, "request-flood": requestFlood, "many-sessions": manySessions }

process.on("SIGTERM", () => process.exit(0))
setInterval(() => {
  if (job.role !== "victim" && job.role !== "honest") emit({ event: "counts", counts })
  if (stopped) {
    emit({ event: "attack-done", counts })
    setTimeout(() => process.exit(0), 50)
  }
}, 200)
Effect.runPromise(Effect.scoped(roles[job.role] as Effect.Effect<unknown, unknown, import("effect").Scope.Scope>)).then(
  () => {
    emit({ event: "done", counts })
    process.exit(0)
  },
  (cause) => {
    console.error(`${job.role} failed:`, cause)
    process.exit(1)
  }
)
