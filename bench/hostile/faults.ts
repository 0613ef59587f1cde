/**
 * The faults of `npm run bench -- hostile`, and its soak: every process is a child of its own
 * (gateway, agents, redis-server); network faults run inside a network namespace this benchmark
 * creates and deletes.
 */
import { execFileSync } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { loadavg, setPriority, tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Fiber, Option, Redacted, Scope, Stream } from "effect"
import * as RedisServer from "../../test/gateway/redisServer.ts"
import * as Fuzz from "../../test/protocol/fuzz.ts"
import * as WebRtcFixtures from "../../test/webrtc/fixtures.ts"
import * as UdpRelay from "../../test/webrtc/udpRelay.ts"
import { type Child, cpuUs, dataDirs, GATEWAY_SCRIPT, gatewayArgs, rssKiB, sleep, start } from "../gateway.ts"
import * as Clients from "../gateway/clients.ts"
import { offerDraft, signSync } from "../gateway/common.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"

const AGENT_SCRIPT = "../hostile/agent.ts"
const RECONNECT_AGENTS = Number(process.env.HOSTILE_BENCH_RECONNECT_AGENTS ?? 5000)
// Real GatewayClients cost the generator several times what the gateway spends on them: fewer of them.
const CLIENT_HERD_AGENTS = Number(process.env.HOSTILE_BENCH_CLIENT_HERD_AGENTS ?? 1000)
const HERD_PROCESSES = Number(process.env.HOSTILE_BENCH_HERD_PROCESSES ?? 2)
const HERD_NICE = Number(process.env.HOSTILE_BENCH_HERD_NICE ?? 0)
// HOSTILE_BENCH_CPU_PROF=<dir>: the restarted gateway of the herd writes a --cpu-prof profile there.
const CPU_PROF_DIR = process.env.HOSTILE_BENCH_CPU_PROF
// HOSTILE_BENCH_SOAK_HEAP=<dir>: the soak's gateway writes a heap snapshot there after each cycle of attacks.
const HEAP_DIR = process.env.HOSTILE_BENCH_SOAK_HEAP
const fixed = (n: number, digits = 1) => (Number.isFinite(n) ? n.toFixed(digits) : "-")
const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))

/** Agents registered at a gateway, from its /health. */
const agentsAt = async (httpUrl: string): Promise<number> => {
  try {
    const body = (await (await fetch(`${httpUrl}/health`, { signal: AbortSignal.timeout(1000) })).json()) as { agents: number }
    return body.agents
  } catch {
    return -1
  }
}

/**
 * A gateway process with a data folder of its own, so that it can be restarted with the same
 * identity on the same port; it is added to `started`.
 */
const restartableGateway = async (started: Array<Child>) => {
  const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-bench-"))
  dataDirs.push(dataDir)
  const gateway = start("gateway", GATEWAY_SCRIPT, gatewayArgs({ dataDir }))
  started.push(gateway)
  const { url } = await gateway.next("listening", 30_000)
  const port = Number(new URL(url as string).port)
  const httpUrl = (url as string).replace(/^ws/, "http").replace(/\/ws$/, "")
  return { gateway, dataDir, url, port, httpUrl }
}

/** A victim agent and an honest one calling it, both registered at `url` and ready; both are added to `started`. */
const victimAndHonest = async (url: unknown, started: Array<Child>) => {
  const victim = start("victim", AGENT_SCRIPT, [JSON.stringify({ role: "victim", url })])
  started.push(victim)
  const { did } = await victim.next("ready", 60_000)
  const honest = start("honest", AGENT_SCRIPT, [JSON.stringify({ role: "honest", url, victim: did, phaseMs: 0 })])
  started.push(honest)
  await honest.next("ready", 60_000)
  return { victim, honest }
}

/** Collects an honest agent's `calls` reports (one a second) and its `ended` event. */
const collectCalls = (honest: Child) => {
  const seconds: Array<{ at: number; count: number; failures: Record<string, number> }> = []
  let running = true
  const loop = (async () => {
    while (running) {
      const report = await honest.next("calls", 500).catch(() => undefined)
      if (report === undefined) continue
      const latency = report.latency as { count: number }
      seconds.push({ at: report.at as number, count: latency.count, failures: report.failures as Record<string, number> })
    }
  })()
  return { seconds, stop: async () => ((running = false), await loop) }
}

// ---------------------------------------------------------------------------

/** The gateway SIGKILLed under open sessions, down for `outageMs`, restarted on its port with its identity. */
const gatewayKill = async (outageMs: number) => {
  const started: Array<Child> = []
  try {
    const first = await restartableGateway(started)
    const { dataDir, httpUrl, port, url } = first
    let gateway = first.gateway
    const { honest } = await victimAndHonest(url, started)
    const calls = collectCalls(honest)
    await sleep(2000)
    const killedAt = Date.now()
    gateway.process.kill("SIGKILL")
    await sleep(outageMs)
    gateway = start("gateway (restarted)", GATEWAY_SCRIPT, gatewayArgs({ dataDir, port }))
    started.push(gateway)
    await gateway.next("listening", 30_000)
    const restartedAt = Date.now()
    let registeredAt: number | undefined
    while (Date.now() - restartedAt < 60_000) {
      if ((await agentsAt(httpUrl)) >= 2) {
        registeredAt = Date.now()
        break
      }
      await sleep(50)
    }
    await sleep(1500)
    honest.send("stop")
    await calls.stop()
    const during = calls.seconds.filter((s) => s.at >= killedAt && s.at <= restartedAt + 1000)
    const failed = during.reduce((n, s) => n + Object.values(s.failures).reduce((a, b) => a + b, 0), 0)
    const served = during.reduce((n, s) => n + s.count, 0)
    console.log(
      `gateway SIGKILL, ${outageMs / 1000} s down | calls over the data channel during the outage: ${served} served, ${failed} failed | ` +
        `both agents registered again ${registeredAt === undefined ? "not within 60 s" : `${fixed((registeredAt - restartedAt) / 1000, 2)} s after the restart`}`
    )
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

/**
 * `agents` clients registered when the gateway is SIGKILLed; it is down for `outageMs`, then
 * restarts: when they are all back, and how their dials and registrations spread over time (a
 * herd would arrive in one burst, and the per-IP handshake limit would turn part of it away).
 * `kind`: "lean" (bench/hostile/herd.ts: bare ws agents on the client's default schedule) or
 * "client" (bench/hostile/reconnect.ts: real GatewayClients), in `processes` generator processes.
 */
const reconnectHerd = async (agents: number, outageMs: number, kind: "lean" | "client", processes: number) => {
  const started: Array<Child> = []
  try {
    const first = await restartableGateway(started)
    const { dataDir, port, url } = first
    let gateway = first.gateway
    // 100 agents per address: within the default handshake burst of one address.
    const sources = Array.from({ length: Math.ceil(agents / 100) }, (_, i) => `127.0.${1 + Math.floor(i / 250)}.${1 + (i % 250)}`)
    const script = kind === "lean" ? "../hostile/herd.ts" : "../hostile/reconnect.ts"
    const herds = Array.from({ length: processes }, (_, p) => {
      const mine = sources.filter((_, i) => i % processes === p)
      const count = Math.floor(agents / processes) + (p < agents % processes ? 1 : 0)
      return start(`agents ${p}`, script, [JSON.stringify({ url, agents: count, sources: mine })])
    })
    started.push(...herds)
    const ready = await Promise.all(herds.map((herd) => herd.next("ready", 15 * 60_000)))
    // Like the attacker of the gateway attacks, the generators stand for machines of their own:
    // at a lower priority they take less of the CPU the gateway needs (HOSTILE_BENCH_HERD_NICE).
    for (const herd of herds) setPriority(herd.pid, HERD_NICE)
    // Every registration from now on is a re-registration (one may come before the parent hears "listening").
    const killedAt = Date.now()
    gateway.process.kill("SIGKILL")
    await sleep(outageMs)
    gateway = start("gateway (restarted)", GATEWAY_SCRIPT, gatewayArgs({ dataDir, port }), CPU_PROF_DIR === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${CPU_PROF_DIR}`])
    started.push(gateway)
    await gateway.next("listening", 30_000)
    const listeningSince = Date.now()
    const gatewayCpu0 = cpuUs(gateway.pid)
    const herdCpu0 = herds.reduce((n, herd) => n + cpuUs(herd.pid), 0)
    // Counted by the agents themselves (the gateway's HTTP endpoints wait behind the herd's connections).
    let back = 0
    while (Date.now() - listeningSince < 60_000) {
      await sleep(500)
      for (const herd of herds) herd.send(`count ${killedAt}`)
      back = (await Promise.all(herds.map((herd) => herd.next("count", 10_000)))).reduce((n, c) => n + (c.registered as number), 0)
      if (back >= agents) break
    }
    const seconds = (Date.now() - listeningSince) / 1000
    const gatewayCpu = (cpuUs(gateway.pid) - gatewayCpu0) / 1e6
    const herdCpu = (herds.reduce((n, herd) => n + cpuUs(herd.pid), 0) - herdCpu0) / 1e6
    for (const herd of herds) herd.send(`attempts ${killedAt} ${listeningSince}`)
    const reports = await Promise.all(herds.map((herd) => herd.next("attempts", 30_000)))
    const merged = (key: string) => reports.flatMap((r) => r[key] as Array<number>).sort((a, b) => a - b)
    const summed = (key: string) => Array.from({ length: 20 }, (_, i) => reports.reduce((n, r) => n + (r[key] as Array<number>)[i]!, 0))
    const dials = merged("firstDial")
    const registered = merged("firstRegistration")
    const secondsOf = (ms: number | undefined) => (ms === undefined ? "-" : fixed(ms / 1000, 2))
    const trim = (xs: Array<number>) => xs.slice(0, Math.max(1, xs.findLastIndex((x) => x > 0) + 1)).join(" ")
    console.log(
      `${agents} agents (${kind === "lean" ? "lean ws agents" : "GatewayClients"} in ${processes} processes), gateway SIGKILL, ${outageMs / 1000} s down ` +
        `(they registered in ${ready.map((r) => fixed((r.ms as number) / 1000, 1)).join("/")} s, generator RSS ${ready.map((r) => r.rssMiB).join("/")} MiB) | ` +
        `first dial after the restart: p50 ${secondsOf(dials[Math.floor(dials.length / 2)])} s, last ${secondsOf(dials.at(-1))} s; dials per 0.5 s: ${trim(summed("dialsPerHalfSecond"))} | ` +
        `registered again: ${registered.length} of ${agents}, p50 ${secondsOf(registered[Math.floor(registered.length / 2)])} s, ` +
        `${registered.length >= agents ? `all ${secondsOf(registered.at(-1))} s after the restart` : "not all within 60 s"}; ` +
        `registrations per 0.5 s: ${trim(summed("registrationsPerHalfSecond"))} | CPU over those ${fixed(seconds, 1)} s: gateway ${fixed(gatewayCpu, 2)} s ` +
        `(${fixed((gatewayCpu * 1e6) / Math.max(1, back), 0)} µs per registration), generators ${fixed(herdCpu, 2)} s (nice ${HERD_NICE}); load average ${loadavg()[0]!.toFixed(1)}`
    )
    gateway.send("exit")
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

/** The victim SIGKILLed: how long until the honest side's session ends, and how its calls fail. */
const peerKill = async () => {
  const started: Array<Child> = []
  try {
    const gateway = start("gateway", GATEWAY_SCRIPT, gatewayArgs({}))
    started.push(gateway)
    const { url } = await gateway.next("listening", 30_000)
    const { victim, honest } = await victimAndHonest(url, started)
    const calls = collectCalls(honest)
    await sleep(2000)
    const killedAt = Date.now()
    victim.process.kill("SIGKILL")
    const ended = await honest.next("ended", 60_000).catch(() => undefined)
    await sleep(1500)
    honest.send("stop")
    await calls.stop()
    const failures: Record<string, number> = {}
    for (const second of calls.seconds.filter((s) => s.at >= killedAt)) {
      for (const [code, n] of Object.entries(second.failures)) failures[code] = (failures[code] ?? 0) + n
    }
    console.log(
      `peer SIGKILL | the session ended ${ended === undefined ? "not within 60 s" : `${fixed(((ended.at as number) - killedAt) / 1000, 2)} s after the kill`}; ` +
        `calls after the kill failed with ${JSON.stringify(failures)}`
    )
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

/** One OFFER from a fresh agent on node 1 to a fresh agent on node 2: whether it arrives within 500 ms. */
const crossesNodes = async (url1: string, url2: string): Promise<boolean> => {
  const alice = generate()
  const bob = generate()
  try {
    const a = await Clients.gateway(url1, alice, 2000)
    const b = await Clients.gateway(url2, bob, 2000).catch((e) => (a.terminate(), Promise.reject(e)))
    try {
      const arrived = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 500)
        b.on("message", (data: Buffer) => {
          if (data.includes("\"type\":\"OFFER\"")) (clearTimeout(timer), resolve(true))
        })
      })
      a.send(signSync(alice, offerDraft(alice, bob.did)))
      return await arrived
    } finally {
      a.terminate()
      b.terminate()
    }
  } catch {
    return false
  }
}

/** Redis SIGKILLed under a two-node cluster and started again empty: how long until a frame crosses nodes again. */
const redisRestart = async (downMs: number) => {
  const scope = Effect.runSync(Scope.make())
  const started: Array<Child> = []
  try {
    const redis = await Effect.runPromise(Scope.provide(RedisServer.start(), scope))
    const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-bench-"))
    dataDirs.push(dataDir)
    const nodeArgs = () => gatewayArgs({ redisUrl: Redacted.value(redis.url), keyFile: join(dataDir, "gateway-identity.json") })
    const nodes = [start("node 1", GATEWAY_SCRIPT, nodeArgs()), start("node 2", GATEWAY_SCRIPT, nodeArgs())]
    started.push(...nodes)
    const [url1, url2] = await Promise.all(nodes.map(async (node) => (await node.next("listening", 30_000)).url as string))
    // Agents registered before the outage (real clients: they reconnect when their session ends).
    const alice = generate()
    const bob = generate()
    const a = await Clients.gateway(url1!, alice)
    const b = await Clients.gateway(url2!, bob)
    const closes: Array<number> = []
    a.on("close", (code) => closes.push(code))
    b.on("close", (code) => closes.push(code))
    const before = await crossesNodes(url1!, url2!)
    await Effect.runPromise(redis.kill)
    await sleep(downMs)
    await Effect.runPromise(redis.restart)
    const restartedAt = Date.now()
    let back: number | undefined
    while (Date.now() - restartedAt < 60_000) {
      if (await crossesNodes(url1!, url2!)) {
        back = Date.now()
        break
      }
      await sleep(100)
    }
    // The pair registered before the outage: does a frame between them cross once Redis is back?
    let arrivedAt: number | undefined
    b.on("message", (data: Buffer) => {
      if (data.includes("\"type\":\"OFFER\"")) arrivedAt ??= Date.now()
    })
    while (arrivedAt === undefined && closes.length === 0 && Date.now() - restartedAt < 45_000) {
      // Every 2.5 s: each UNKNOWN_AGENT counts as a refused frame, and 20 close the session.
      a.send(signSync(alice, offerDraft(alice, bob.did)))
      await sleep(2500)
    }
    const oldPair = arrivedAt === undefined ? "not within 45 s" : `${fixed((arrivedAt - restartedAt) / 1000, 2)} s after the restart`
    a.terminate()
    b.terminate()
    console.log(
      `Redis SIGKILL under 2 nodes, ${downMs / 1000} s down, restarted empty | a frame crossed nodes before: ${before}; ` +
        `new agents' frames cross again ${back === undefined ? "not within 60 s" : `${fixed((back - restartedAt) / 1000, 2)} s after the restart`}; ` +
        `between agents registered through the outage: ${oldPair}, their sessions closed ${JSON.stringify(closes)}`
    )
  } finally {
    for (const child of started.reverse()) await child.stop()
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/**
 * Loss and delay without netem: both peers' ICE through a user-space UDP relay that drops a share
 * of the datagrams and holds the rest (test/webrtc/udpRelay.ts). An ordered, reliable channel must
 * deliver every message intact and in order; an unordered one with `maxRetransmits: 0` loses some.
 */
const lossyPath = (loss: number, delayMs: number) =>
  Effect.gen(function*() {
    const COUNT = 1000
    const relay = yield* UdpRelay.makeWith({ loss, delayMs, random: Fuzz.prng(loss * 1000 + delayMs) })
    const signalingHub = yield* WebRtcFixtures.hub
    const transport = WebRtcFixtures.realTransports[0]![1]
    const alice = yield* WebRtcFixtures.agentOnHub(signalingHub, transport, { connectTimeoutMs: 30_000 }, UdpRelay.tap(relay))
    const bob = yield* WebRtcFixtures.agentOnHub(signalingHub, transport, { connectTimeoutMs: 30_000 }, UdpRelay.tap(relay))
    const t0 = performance.now()
    const { offerer, answerer } = yield* WebRtcFixtures.connectPair(alice, bob)
    const connectMs = performance.now() - t0
    const channel = (label: string, options: { ordered: boolean; maxRetransmits?: number }) =>
      Effect.gen(function*() {
        const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === label), Stream.runHead))
        const mine = yield* offerer.peer.createDataChannel({ label, ...options })
        yield* mine.opened
        return { mine, theirs: Option.getOrThrow(yield* Fiber.join(remote)) }
      })
    const payload = (i: number) => `${i}:${"x".repeat(1000)}:${i}`
    const ordered = yield* channel("ordered", { ordered: true })
    const receiving = yield* Effect.forkChild(ordered.theirs.messages.pipe(Stream.take(COUNT), Stream.runCollect, Effect.timeout("120 seconds")))
    const sendStart = performance.now()
    for (let i = 0; i < COUNT; i++) yield* ordered.mine.send(payload(i))
    const got = yield* Fiber.join(receiving)
    const orderedMs = performance.now() - sendStart
    const intact = got.length === COUNT && got.every((m, i) => m === payload(i))
    const lossy = yield* channel("lossy", { ordered: false, maxRetransmits: 0 })
    let arrived = 0
    yield* Effect.forkChild(Stream.runForEach(lossy.theirs.messages, () => Effect.sync(() => void arrived++)))
    for (let i = 0; i < COUNT; i++) yield* lossy.mine.send(payload(i))
    yield* Effect.sleep("3 seconds")
    const { forwarded, dropped } = relay.counts()
    console.log(
      `lossy path (relay drops ${loss * 100} %, delays ${delayMs} ms) | connected in ${fixed(connectMs / 1000, 2)} s; ordered reliable channel: ` +
        `${got.length}/${COUNT} messages of 1 KB, ${intact ? "all intact and in order" : "NOT intact"}, in ${fixed(orderedMs / 1000, 2)} s; ` +
        `unordered, maxRetransmits 0: ${arrived}/${COUNT} arrived; datagrams forwarded ${forwarded}, dropped ${dropped}`
    )
  }).pipe(Effect.scoped)

/** The network namespace of the netem and iptables faults (this process's own). */
const NETNS = `aiconexus-hostile-${process.pid}`

/**
 * Echo calls between two agents through a gateway, all three in a network namespace of their own
 * whose loopback is impaired by `impair` (commands run inside it); every call must be answered.
 */
const impairedNamespace = async (label: string, impair: ReadonlyArray<ReadonlyArray<string>>) => {
  try {
    execFileSync("ip", ["netns", "add", NETNS])
  } catch (cause) {
    console.log(`${label}: cannot create a network namespace (${cause instanceof Error ? cause.message.split("\n")[0] : String(cause)}); skipped`)
    return
  }
  const started: Array<Child> = []
  try {
    execFileSync("ip", ["netns", "exec", NETNS, "ip", "link", "set", "lo", "up"])
    try {
      for (const command of impair) execFileSync("ip", ["netns", "exec", NETNS, ...command], { stdio: "pipe" })
    } catch (cause) {
      const reason = cause instanceof Error && "stderr" in cause ? String(cause.stderr).trim() : String(cause)
      console.log(`${label} | not run: ${reason}`)
      return
    }
    const inNs = (name: string, script: string, args: ReadonlyArray<string>) => start(name, script, args, [], ["ip", "netns", "exec", NETNS])
    const gateway = inNs("gateway", GATEWAY_SCRIPT, gatewayArgs({}))
    started.push(gateway)
    const { url } = await gateway.next("listening", 60_000)
    const victim = inNs("victim", AGENT_SCRIPT, [JSON.stringify({ role: "victim", url })])
    started.push(victim)
    const { did } = await victim.next("ready", 120_000)
    const honest = inNs("honest", AGENT_SCRIPT, [JSON.stringify({ role: "honest", url, victim: did, phaseMs: 8000 })])
    started.push(honest)
    const quiet = await honest.next("phase", 120_000)
    const latency = quiet.latency as { count: number; p50: number; p99: number }
    const dropped = impair.some((command) => command[0] === "iptables")
      ? `; packets dropped by the kernel: ${execFileSync("ip", ["netns", "exec", NETNS, "iptables", "-L", "INPUT", "-v", "-n", "-x"]).toString().split("\n").find((line) => line.includes("statistic"))?.trim().split(/\s+/)[0] ?? "?"}`
      : ""
    console.log(
      `${label} | echo calls over an ordered, reliable channel: ${latency.count} answered, ` +
        `failed ${JSON.stringify(quiet.failures)}; p50 ${fixed(latency.p50, 1)} ms, p99 ${fixed(latency.p99, 1)} ms${dropped}`
    )
  } finally {
    for (const child of started.reverse()) await child.stop()
    execFileSync("ip", ["netns", "delete", NETNS])
  }
}

/** Loss and delay by `tc netem` on the namespace's loopback (needs the kernel's sch_netem). */
const netem = (loss: string, delay: string) =>
  impairedNamespace(`tc netem on lo (loss ${loss}, delay ${delay})`, [["tc", "qdisc", "add", "dev", "lo", "root", "netem", "loss", loss, "delay", delay]])

/**
 * Loss in the kernel without netem: iptables' `statistic` match drops a random share of every
 * packet the namespace's loopback delivers (TCP to the gateway and the peers' UDP alike).
 */
const kernelLoss = (probability: number) =>
  impairedNamespace(`iptables random drop on lo (${probability * 100} % of packets, no added delay)`, [
    ["iptables", "-A", "INPUT", "-m", "statistic", "--mode", "random", "--probability", String(probability), "-j", "DROP"]
  ])

export const run = async () => {
  console.log("\nfaults (gateways, agents and Redis each in a process of its own; the lossy path in this one)")
  const only = process.env.HOSTILE_BENCH_FAULTS?.split(",").map((f) => f.trim())
  for (const [name, fault] of [
    ["gateway kill (8 s)", () => gatewayKill(8000)],
    ["gateway kill (40 s)", () => gatewayKill(40_000)],
    ["reconnect herd", () => reconnectHerd(RECONNECT_AGENTS, 20_000, "lean", HERD_PROCESSES)],
    ["GatewayClient reconnect herd", () => reconnectHerd(CLIENT_HERD_AGENTS, 20_000, "client", HERD_PROCESSES)],
    ["peer kill", peerKill],
    ["redis restart", () => redisRestart(3000)],
    ["lossy path", () => Effect.runPromise(lossyPath(0.05, 20))],
    ["netem", () => netem("5%", "20ms")],
    ["kernel loss", () => kernelLoss(0.05)]
  ] as const) {
    if (only !== undefined && !only.some((o) => name.startsWith(o))) continue
    try {
      await fault()
    } catch (cause) {
      console.log(`${name}: failed to run: ${cause instanceof Error ? cause.message : String(cause)}`)
    }
  }
}

/** The gateway's count of successful registrations since it started (from /metrics). */
const registrationsAt = async (httpUrl: string): Promise<number> => {
  try {
    const text = await (await fetch(`${httpUrl}/metrics`, { signal: AbortSignal.timeout(5000) })).text()
    const line = text.split("\n").find((l) => l.startsWith("aiconexus_gateway_registrations_total"))
    return line === undefined ? 0 : Number(line.split(" ").at(-1))
  } catch {
    return -1
  }
}

/**
 * Fresh DIDs registering and leaving as fast as the handshake limits of 32 addresses allow, in
 * turns of `turnMs`: the gateway's heap after a full GC against the distinct DIDs it has seen.
 * Caches keyed by DID (decoded DIDs and their key checks, 16,384 each; node:crypto keys, 4,096)
 * fill up to their caps, and the heap must stop growing once they are full.
 */
export const didChurn = async (turns: number, turnMs: number) => {
  console.log(`\nDID churn: fresh DIDs registering and leaving from 32 addresses, ${turns} turns of ${turnMs / 1000} s; the gateway's heap after a full GC after each`)
  const started: Array<Child> = []
  try {
    const gateway = start("gateway", GATEWAY_SCRIPT, gatewayArgs({}), ["--expose-gc"])
    started.push(gateway)
    const { url } = await gateway.next("listening", 30_000)
    const httpUrl = (url as string).replace(/^ws/, "http").replace(/\/ws$/, "")
    const sources = Array.from({ length: 32 }, (_, i) => `127.0.9.${i + 1}`)
    const rows: Array<string> = []
    gateway.send("gc")
    const base = (await gateway.next("gc", 30_000)).memory as { heapUsed: number }
    rows.push(`0 DIDs: ${fixed(base.heapUsed / 2 ** 20, 1)} MiB`)
    for (let turn = 0; turn < turns; turn++) {
      const attacker = start("churn", "../hostile/attack.ts", [JSON.stringify({ mode: "churn", url, sources, durationMs: turnMs })])
      started.push(attacker)
      await attacker.next("attack-done", turnMs + 60_000).catch(() => undefined)
      await attacker.stop()
      gateway.send("gc")
      const memory = (await gateway.next("gc", 30_000)).memory as { heapUsed: number }
      rows.push(`${await registrationsAt(httpUrl)} DIDs: ${fixed(memory.heapUsed / 2 ** 20, 1)} MiB`)
    }
    console.log(`DID churn: heap used after a full GC, by DIDs registered so far: ${rows.join(", ")}`)
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

// ---------------------------------------------------------------------------
// Soak
// ---------------------------------------------------------------------------

/**
 * `soakMs` of mixed load on one gateway process with its default limits: an honest agent pair
 * calling over WebRTC, registrations churning, a frame flood, junk and DISCOVER scraping from
 * other hosts, in turns. The gateway's RSS each second; flat means the last minute's median is
 * within 10 % of the second minute's.
 */
export const soak = async (soakMs: number) => {
  console.log(`\nsoak: ${soakMs / 1000} s of mixed load on one gateway (default limits); RSS sampled every second`)
  const started: Array<Child> = []
  try {
    // --expose-gc: after each turn the gateway collects garbage and reports what it still holds.
    const gateway = start("gateway", GATEWAY_SCRIPT, gatewayArgs({}), ["--expose-gc"])
    started.push(gateway)
    const { url } = await gateway.next("listening", 30_000)
    const { honest } = await victimAndHonest(url, started)
    const calls = collectCalls(honest)
    const afterTurns: Array<{ mode: string; heapMiB: number; heapTotalMiB: number; rssMiB: number; externalMiB: number }> = []
    const samples: Array<number> = []
    const sampler = setInterval(() => samples.push(rssKiB(gateway.pid) / 1024), 1000)
    const end = Date.now() + soakMs
    const modes = ["churn", "frames", "junk", "scrape", "unread"]
    for (let turn = 0; Date.now() < end; turn++) {
      const attacker = start("attacker", "../hostile/attack.ts", [
        JSON.stringify({ mode: modes[turn % modes.length], url, sources: ["127.0.0.2", "127.0.0.3"], durationMs: 30_000 })
      ])
      setPriority(attacker.pid, 19)
      await attacker.next("attack-done", 90_000).catch(() => undefined)
      await attacker.stop()
      gateway.send("gc")
      const collected = await gateway.next("gc", 30_000).catch(() => undefined)
      const memory = collected?.memory as { heapUsed: number; heapTotal: number; rss: number; external: number } | undefined
      if (memory !== undefined) {
        const mib = (bytes: number) => bytes / 2 ** 20
        const mode = modes[turn % modes.length]!
        afterTurns.push({ mode, heapMiB: mib(memory.heapUsed), heapTotalMiB: mib(memory.heapTotal), rssMiB: mib(memory.rss), externalMiB: mib(memory.external) })
      }
      // At the end of every cycle of attacks (the same point of the mix): a heap snapshot to compare.
      if (HEAP_DIR !== undefined && turn % modes.length === modes.length - 1) {
        gateway.send(`heap ${join(HEAP_DIR, `gateway-turn${turn + 1}.heapsnapshot`)}`)
        await gateway.next("heap", 120_000).catch(() => undefined)
      }
    }
    clearInterval(sampler)
    honest.send("stop")
    await calls.stop()
    const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN
    const early = median(samples.slice(60, 120))
    const late = median(samples.slice(-60))
    const failed = calls.seconds.reduce((n, s) => n + Object.values(s.failures).reduce((a, b) => a + b, 0), 0)
    const served = calls.seconds.reduce((n, s) => n + s.count, 0)
    console.log(
      `soak: gateway RSS median ${fixed(early, 0)} MiB in minute 2, ${fixed(late, 0)} MiB in the last minute (${fixed(((late - early) / early) * 100, 1)} %), ` +
        `peak ${fixed(Math.max(...samples), 0)} MiB; honest calls ${served} served, ${failed} failed`
    )
    // The same point of each cycle of attacks: what the gateway holds after a full collection.
    console.log(
      `soak: after each turn and a full GC, heap used / heap total / external / RSS MiB: ${
        afterTurns.map((t) => `${t.mode} ${fixed(t.heapMiB, 0)}/${fixed(t.heapTotalMiB, 0)}/${fixed(t.externalMiB, 0)}/${fixed(t.rssMiB, 0)}`).join(", ")
      }`
    )
  } finally {
    for (const child of started.reverse()) await child.stop()
  }
}

