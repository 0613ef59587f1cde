/**
 * WebRTC benchmark: for each real stack, our API (Connector through a real gateway, DataChannel
 * Streams and Effects) beside the same library driven directly through its own API, in one run.
 *
 * Method: raw and ours are measured in turn, round by round (a setup of each, an RTT round of each…),
 * so both see the same load of a shared machine; the order alternates (raw first in even rounds,
 * ours first in odd ones) and garbage is collected before every clock starts (then 100 ms for the
 * collector's helper threads to finish), so neither side pays for the garbage, closing channels or
 * warm caches of the round before it. Ratios are printed
 * over all rounds and per order ("raw first", "ours first"): a ratio that moves with the order is an
 * artifact of the method, not a cost of either side. Bulk transfers reuse one connection on both
 * sides (ours its link, raw one pair), each round on a new channel.
 *
 * - setup: time from `connect` to an open control channel (ours: through the gateway, signed and
 *   verified signaling; raw: the two peers hand each other SDP and candidates in-process), 20 times;
 * - RTT: sequential ping-pongs of a 16-byte message: after 5,000 untimed ones (both sides: the JIT
 *   warms up, so the rounds compare steady per-message costs), the median of 6 rounds of 1,000;
 * - throughput: 64 MiB one way in chunks, with the same flow control on both sides (wait above
 *   `BUFFER_HIGH_WATER` until the buffered amount is down to `BUFFER_LOW_WATER`), median of 2;
 * - one 16 MiB message: ours over a framed channel (`ioap-frag.v1`) vs the raw library sending the
 *   same bytes in chunks (it cannot send one 16 MiB message), the median of 6; both send bytes
 *   allocated and written before the clock starts (see `written`). Then, without a goal, the same
 *   beside raw copying its chunks into one 16 MiB buffer, as an application must to hold the
 *   message: where the gap goes (the bulk lines count V8's major collections in each side's rounds).
 *
 * `WEBRTC_BENCH_STACKS=node-datachannel` measures only the stacks named; `WEBRTC_BENCH_NO_GC=1`
 * leaves garbage collection to V8 (the method before: compare the ratios). The bulk lines also say
 * how long V8 collected garbage by itself inside each side's clocks, and the process's CPU time in
 * each side's rounds (all threads: on a shared machine a steadier measure of cost than MB/s).
 */
import { Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { NodeSocket } from "@effect/platform-node"
import { RTCPeerConnection as NdcPeerConnection } from "node-datachannel/polyfill"
import { RTCPeerConnection as WeriftPeerConnection } from "werift"
import { GatewayClient } from "../src/client/GatewayClient.ts"
import { KnownGateways } from "../src/client/KnownGateways.ts"
import { Signaling } from "../src/client/Signaling.ts"
import * as Gateway from "../src/gateway/Gateway.ts"
import * as GatewayConfig from "../src/gateway/GatewayConfig.ts"
import * as Identity from "../src/protocol/Identity.ts"
import * as CandidatePolicy from "../src/webrtc/peer/CandidatePolicy.ts"
import { Connector, type PeerLink } from "../src/webrtc/link/Connector.ts"
import * as NodeDataChannelTransport from "../src/webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../src/webrtc/stacks/NodeWeriftTransport.ts"
import * as FramedChannel from "../src/webrtc/framing/FramedChannel.ts"
import type { Transport } from "../src/webrtc/peer/Transport.ts"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { constants, PerformanceObserver } from "node:perf_hooks"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { BUFFER_HIGH_WATER, BUFFER_LOW_WATER } from "../src/webrtc/peer/DataChannel.ts"

const SETUPS = 20
const PINGS = 1_000
const RTT_ROUNDS = 6
/** Untimed rounds before the timed ones, on both sides: our Effect path takes thousands of messages to be compiled (measured: 0.16 ms after 1,000, 0.06 ms after 5,000). */
const RTT_WARMUP_ROUNDS = 5
const BIG_ROUNDS = 6
const THROUGHPUT_ROUNDS = 2
const TOTAL_BYTES = 64 * 1024 * 1024

/** The median; of an even count, the mean of the middle two (2 rounds: their mean, not the lower). */
const median = (values: ReadonlyArray<number>) => {
  const sorted = [...values].sort((a, b) => a - b)
  const middle = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2
}

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

interface Stack {
  readonly name: string
  readonly layer: Layer.Layer<Transport>
  readonly chunk: number
  /** A raw W3C peer connection of the library, on loopback. */
  readonly raw: () => RTCPeerConnection
}

export const stacks: ReadonlyArray<Stack> = [
  {
    name: "node-datachannel",
    layer: NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" }),
    chunk: 64 * 1024,
    raw: () => new NdcPeerConnection({ iceServers: [], bindAddress: "127.0.0.1" } as never) as unknown as RTCPeerConnection
  },
  {
    name: "werift",
    layer: NodeWeriftTransport.layer({ loopback: true }),
    chunk: 60 * 1024,
    raw: () =>
      new WeriftPeerConnection({
        iceServers: [],
        iceAdditionalHostAddresses: ["127.0.0.1"],
        iceInterfaceAddresses: { udp4: "127.0.0.1" }
      }) as unknown as RTCPeerConnection
  }
]

// ---------------------------------------------------------------------------
// The library directly
// ---------------------------------------------------------------------------

const opened = (channel: RTCDataChannel) =>
  new Promise<void>((resolve) => (channel.readyState === "open" ? resolve() : channel.addEventListener("open", () => resolve(), { once: true })))

/** How long a raw pair may take to open before it counts as failed (a stuck pair would end the run). */
const RAW_PAIR_TIMEOUT_MS = 10_000

const within = <A>(ms: number, promise: Promise<A>): Promise<A> =>
  new Promise<A>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not open within ${ms} ms`)), ms)
    promise.then((value) => {
      clearTimeout(timer)
      resolve(value)
    }, (error) => {
      clearTimeout(timer)
      reject(error)
    })
  })

/** Raw pairs whose signaling the library refused or that did not open (see `rawPair`), per stack. */
const rawRefusals = new Map<string, number>()

/**
 * Two raw peers connected in-process; returns both channels and a closer. Under load,
 * node-datachannel's own W3C polyfill sometimes refuses a description whose candidates arrive before
 * its ICE transport is up ("Got a remote candidate without ICE transport"), and a pair can fail to
 * open at all (seen once in 4 runs with load average 8): that pair is closed and a new one made
 * (counted, within the same timing, as ours counts its retries).
 */
export const rawPair = async (stack: Stack): Promise<{ a: RTCPeerConnection; b: RTCPeerConnection; channel: RTCDataChannel; other: RTCDataChannel; close: () => void }> => {
  for (let attempt = 1; ; attempt++) {
    try {
      return await rawPairOnce(stack)
    } catch (error) {
      if (attempt >= 3) throw error
      rawRefusals.set(stack.name, (rawRefusals.get(stack.name) ?? 0) + 1)
    }
  }
}

const rawPairOnce = async (stack: Stack) => {
  const a = stack.raw()
  const b = stack.raw()
  try {
    a.addEventListener("icecandidate", (e) => {
      const c = (e as RTCPeerConnectionIceEvent).candidate
      if (c && c.candidate) void b.addIceCandidate(c).catch(() => undefined)
    })
    b.addEventListener("icecandidate", (e) => {
      const c = (e as RTCPeerConnectionIceEvent).candidate
      if (c && c.candidate) void a.addIceCandidate(c).catch(() => undefined)
    })
    const remote = new Promise<RTCDataChannel>((resolve) => b.addEventListener("datachannel", (e) => resolve((e as RTCDataChannelEvent).channel), { once: true }))
    const channel = a.createDataChannel("bench", { ordered: true })
    await a.setLocalDescription(await a.createOffer())
    await b.setRemoteDescription(a.localDescription!)
    await b.setLocalDescription(await b.createAnswer())
    await a.setRemoteDescription(b.localDescription!)
    const other = await within(RAW_PAIR_TIMEOUT_MS, remote)
    await within(RAW_PAIR_TIMEOUT_MS, Promise.all([opened(channel), opened(other)]))
    return { a, b, channel, other, close: () => { a.close(); b.close() } }
  } catch (error) {
    a.close()
    b.close()
    throw error
  }
}

/** A raw pair echoing on one side; `round` times PINGS sequential ping-pongs (ms per ping-pong). */
const rawRttSession = async (stack: Stack) => {
  const { channel, close, other } = await rawPair(stack)
  other.addEventListener("message", (e) => other.send((e as MessageEvent).data))
  const payload = "0123456789abcdef"
  const round = async () => {
    await settle()
    const start = performance.now()
    for (let i = 0; i < PINGS; i++) {
      await new Promise<void>((resolve) => {
        channel.addEventListener("message", () => resolve(), { once: true })
        channel.send(payload)
      })
    }
    return (performance.now() - start) / PINGS
  }
  return { round, close }
}

/**
 * Bytes to send, written before the clock starts: a buffer allocated and never written is mapped to
 * the kernel's zero page as it is first read, a page fault per 4 KiB (measured: 7–110 ms to read 16
 * MiB so, 1–3 ms once written), which would be counted against whoever sends the larger buffer.
 */
const written = (bytes: number) => new Uint8Array(bytes).fill(0x5a)

/** How long `settle` waits after a forced collection before a clock starts. */
const SETTLE_MS = 100

/**
 * Collects garbage before a clock starts, so that no case pays for the garbage of the one before it
 * (raw's 64 MiB of received buffers, say, collected during ours). The bench process is started
 * without flags: `--expose-gc` is set at run time and `gc` read from a new context.
 */
export const settle: () => Promise<void> = (() => {
  setFlagsFromString("--expose-gc")
  const gc = runInNewContext("gc") as () => void
  if (process.env.WEBRTC_BENCH_NO_GC === "1") {
    return async () => {
      gcSinceSettle = 0
      majorsSinceSettle = 0
      cpuAtSettle = process.cpuUsage()
    }
  }
  return async () => {
    gc()
    // A forced collection leaves sweeping to helper threads: on 2 cores they would run inside the
    // next clock (measured: setup medians 27–95 ms right after a collection, 11 ms without).
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS))
    gcSinceSettle = 0
    majorsSinceSettle = 0
    cpuAtSettle = process.cpuUsage()
  }
})()

/** Milliseconds of garbage collection V8 did by itself since the last `settle` (forced ones not counted). */
let gcSinceSettle = 0
/** Major (mark-compact) collections V8 did by itself since the last `settle`. */
let majorsSinceSettle = 0
/**
 * The process's CPU time when the last `settle` ended, i.e. when a clock started: CPU of a round is
 * every thread's (both peers' native stacks, V8's collector helpers, the main thread), a steadier
 * measure of cost than MB/s on a shared machine, where the other processes' load moves the clock.
 */
let cpuAtSettle = process.cpuUsage()
const cpuSinceSettleMs = () => {
  const { system, user } = process.cpuUsage(cpuAtSettle)
  return (user + system) / 1000
}
const gcObserver = new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const flags = (entry as { readonly detail?: { readonly flags?: number } }).detail?.flags ?? 0
    if ((flags & constants.NODE_PERFORMANCE_GC_FLAGS_FORCED) !== 0) continue
    gcSinceSettle += entry.duration
    if ((entry as { readonly detail?: { readonly kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majorsSinceSettle++
  }
})

/**
 * A raw pair for bulk transfers. Each round opens a new channel on it (as ours opens a new channel
 * on its link) and sends `total` bytes in chunks of `chunkBytes` with the flow control ours uses
 * (wait above `BUFFER_HIGH_WATER` until the stack drains to `BUFFER_LOW_WATER`); MB/s. With
 * `assemble`, the receiver copies the chunks into one buffer of `total` bytes allocated at the first
 * one, as an application of the raw library must to hold one message (and as our framing does).
 */
const rawBulkSession = async (stack: Stack) => {
  const pair = await rawPair(stack)
  let rounds = 0
  const round = async (total: number, chunkBytes: number, assemble = false) => {
    const label = `bulk-${rounds++}`
    const remote = new Promise<RTCDataChannel>((resolve) => {
      const listener = (e: Event) => {
        const channel = (e as RTCDataChannelEvent).channel
        if (channel.label !== label) return
        pair.b.removeEventListener("datachannel", listener)
        resolve(channel)
      }
      pair.b.addEventListener("datachannel", listener)
    })
    const channel = pair.a.createDataChannel(label, { ordered: true })
    const other = await within(RAW_PAIR_TIMEOUT_MS, remote)
    await within(RAW_PAIR_TIMEOUT_MS, Promise.all([opened(channel), opened(other)]))
    const chunk = written(chunkBytes)
    let received = 0
    let message: Uint8Array | undefined
    const done = new Promise<void>((resolve) =>
      other.addEventListener("message", (e) => {
        const data = (e as MessageEvent).data as ArrayBuffer | Uint8Array
        if (assemble) (message ??= new Uint8Array(total)).set(data instanceof ArrayBuffer ? new Uint8Array(data) : data, received)
        received += data.byteLength
        if (received >= total) resolve()
      }))
    channel.bufferedAmountLowThreshold = BUFFER_LOW_WATER
    await settle()
    const start = performance.now()
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (channel.bufferedAmount > BUFFER_HIGH_WATER) {
        await new Promise<void>((resolve) => channel.addEventListener("bufferedamountlow", () => resolve(), { once: true }))
      }
      channel.send(chunk)
    }
    await done
    const mbPerSecond = total / 1024 / 1024 / ((performance.now() - start) / 1000)
    channel.close()
    return mbPerSecond
  }
  return { round, close: pair.close }
}

// ---------------------------------------------------------------------------
// Our API, through a real gateway
// ---------------------------------------------------------------------------

export const agent = (url: string, transport: Layer.Layer<Transport>) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const client = Context.get(
      yield* Layer.build(GatewayClient.layer({ urls: [url], identity }).pipe(
        Layer.provide(Layer.mergeAll(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
      )),
      GatewayClient
    )
    const session = yield* client.session
    const context = yield* Layer.build(
      Connector.layer({ iceServers: Effect.succeed(session.iceServers), candidatePolicy: CandidatePolicy.allowAll }).pipe(
        Layer.provide(Layer.merge(Signaling.layerGateway.pipe(Layer.provide(Layer.succeed(GatewayClient, client))), transport))
      )
    )
    return { identity, connector: Context.get(context, Connector) }
  })

export const ourPair = (a: Effect.Success<ReturnType<typeof agent>>, b: Effect.Success<ReturnType<typeof agent>>) =>
  Effect.gen(function*() {
    const accepted = yield* b.connector.incoming.pipe(Stream.runHead, Effect.forkChild)
    const offerer = yield* a.connector.connect(b.identity.did)
    const answerer = Option.getOrThrow(yield* Fiber.join(accepted))
    return { offerer, answerer }
  })

/**
 * An in-memory gateway on loopback for the P2P benchmarks: rate limits far above their load, and a
 * temporary data folder removed with the scope.
 */
export const benchGateway = Effect.gen(function*() {
  const dataDir = yield* Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), "aiconexus-bench-"))),
    (dir) => Effect.sync(() => rmSync(dir, { recursive: true, force: true }))
  )
  const config = GatewayConfig.make({
    host: "127.0.0.1",
    port: 0,
    dataDir,
    sessionRate: { perSecond: 10_000, burst: 10_000 },
    destinationRate: { perSecond: 10_000, burst: 10_000 }
  })
  return Context.get(yield* Layer.build(Gateway.layerMemory(config)), Gateway.Gateway)
})

/** The rounds of one measurement, raw's and ours, which went first in each round, and the GC time in each. */
interface Paired {
  readonly raw: Array<number>
  readonly mine: Array<number>
  readonly rawFirst: Array<boolean>
  readonly rawGcMs: Array<number>
  readonly mineGcMs: Array<number>
  /** CPU of the process from the clock's start to the end of the side's round (see `cpuAtSettle`). */
  readonly rawCpuMs: Array<number>
  readonly mineCpuMs: Array<number>
  /** Major collections V8 did by itself in the side's round. */
  readonly rawMajors: Array<number>
  readonly mineMajors: Array<number>
}

const paired = (): Paired => ({ raw: [], mine: [], rawFirst: [], rawGcMs: [], mineGcMs: [], rawCpuMs: [], mineCpuMs: [], rawMajors: [], mineMajors: [] })

/**
 * Round `round` of a measurement: raw then ours in even rounds, ours then raw in odd ones, so
 * neither side is always the one that runs right after the other's round (and its garbage, its
 * closing channel, its warm caches).
 */
const inTurn = <E, R>(into: Paired, round: number, raw: Effect.Effect<number>, mine: Effect.Effect<number, E, R>) =>
  Effect.gen(function*() {
    const rawFirst = round % 2 === 0
    const runRaw = Effect.map(raw, (value) => {
      into.rawCpuMs.push(cpuSinceSettleMs())
      into.raw.push(value)
      into.rawGcMs.push(gcSinceSettle)
      into.rawMajors.push(majorsSinceSettle)
    })
    const runMine = Effect.map(mine, (value) => {
      into.mineCpuMs.push(cpuSinceSettleMs())
      into.mine.push(value)
      into.mineGcMs.push(gcSinceSettle)
      into.mineMajors.push(majorsSinceSettle)
    })
    if (rawFirst) {
      yield* runRaw
      yield* runMine
    } else {
      yield* runMine
      yield* runRaw
    }
    into.rawFirst.push(rawFirst)
  })

/**
 * Both sides of every measurement in turn, the order alternating round by round (`inTurn`), with
 * garbage collected before each clock starts (`settle`), so that both see the same load of the
 * shared machine and neither pays for the other: setups; warm-up rounds of both, then RTT rounds;
 * 64 MiB rounds; 16 MiB rounds.
 */
const sideBySide = (stack: Stack) =>
  Effect.gen(function*() {
    const gateway = yield* benchGateway
    const a = yield* agent(gateway.url, stack.layer)
    const b = yield* agent(gateway.url, stack.layer)
    const setup = paired()
    const rtt = paired()
    const throughput = paired()
    const bigMessage = paired()
    const bigAssembled = paired()
    for (let i = 0; i < SETUPS; i++) {
      const rawSetup = Effect.promise(async () => {
        await settle()
        const start = performance.now()
        const pair = await rawPair(stack)
        const ms = performance.now() - start
        pair.close()
        return ms
      })
      const ourSetup = Effect.scoped(Effect.gen(function*() {
        yield* Effect.promise(settle)
        const start = performance.now()
        yield* ourPair(a, b)
        return performance.now() - start
      }))
      yield* inTurn(setup, i, rawSetup, ourSetup)
    }
    const { answerer, offerer } = yield* ourPair(a, b)
    const rawRtt = yield* Effect.acquireRelease(Effect.promise(() => rawRttSession(stack)), (session) => Effect.sync(session.close))
    const ourRtt = yield* rttSession(offerer, answerer)
    for (let i = 0; i < RTT_WARMUP_ROUNDS; i++) {
      yield* Effect.promise(rawRtt.round)
      yield* ourRtt
    }
    for (let i = 0; i < RTT_ROUNDS; i++) yield* inTurn(rtt, i, Effect.promise(rawRtt.round), ourRtt)
    const rawBulk = yield* Effect.acquireRelease(Effect.promise(() => rawBulkSession(stack)), (session) => Effect.sync(session.close))
    for (let i = 0; i < THROUGHPUT_ROUNDS; i++) {
      yield* inTurn(
        throughput,
        i,
        Effect.promise(() => rawBulk.round(TOTAL_BYTES, stack.chunk)),
        measureThroughput(offerer, answerer, stack.chunk, TOTAL_BYTES, `bulk-${i}`)
      )
    }
    for (let i = 0; i < BIG_ROUNDS; i++) {
      yield* inTurn(
        bigMessage,
        i,
        Effect.promise(() => rawBulk.round(BIG_MESSAGE, stack.chunk)),
        measureBigMessage(offerer, answerer, `big-${i}`)
      )
      yield* inTurn(
        bigAssembled,
        i,
        Effect.promise(() => rawBulk.round(BIG_MESSAGE, stack.chunk, true)),
        measureBigMessage(offerer, answerer, `big-assembled-${i}`)
      )
    }
    return { setup, rtt, throughput, bigMessage, bigAssembled }
  }).pipe(Effect.scoped)

/**
 * Sequential ping-pongs over the control channel: the answerer echoes, the offerer reads each reply
 * from its messages (pulled directly, as raw awaits its event: no queue and fiber of the harness in
 * between). A round of PINGS; ms per ping-pong. The echo lives in the caller's scope.
 */
export const rttSession = (offerer: PeerLink, answerer: PeerLink) =>
  Effect.gen(function*() {
    yield* answerer.control.messages.pipe(Stream.runForEach((m) => Effect.ignore(answerer.control.send(m))), Effect.forkScoped)
    const reply = yield* Stream.toPull(offerer.control.messages)
    const payload = "0123456789abcdef"
    return Effect.gen(function*() {
      yield* Effect.promise(settle)
      const start = performance.now()
      for (let i = 0; i < PINGS; i++) {
        yield* offerer.control.send(payload)
        yield* reply
      }
      return (performance.now() - start) / PINGS
    }).pipe(Effect.orDie)
  })

const BIG_MESSAGE = 16 * 1024 * 1024

/** One 16 MiB message over a new framed channel `label`; MB/s. */
export const measureBigMessage = (offerer: PeerLink, answerer: PeerLink, label: string, fragmentBytes?: number) =>
  Effect.gen(function*() {
    const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === label), Stream.runHead))
    const channel = yield* offerer.peer.createDataChannel(FramedChannel.config(label))
    yield* channel.opened
    const sender = yield* FramedChannel.make(channel, { maxFragmentBytes: fragmentBytes === undefined ? offerer.peer.maxMessageSize : Effect.succeed(fragmentBytes) })
    const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(remote)), { maxFragmentBytes: answerer.peer.maxMessageSize })
    const arriving = yield* Effect.forkChild(receiver.messages.pipe(Stream.runHead))
    const message = written(BIG_MESSAGE)
    yield* Effect.promise(settle)
    const start = performance.now()
    yield* sender.send(message)
    yield* Fiber.join(arriving)
    const mbPerSecond = BIG_MESSAGE / 1024 / 1024 / ((performance.now() - start) / 1000)
    yield* channel.close
    return mbPerSecond
  }).pipe(Effect.scoped, Effect.orDie)

export const measureThroughput = (offerer: PeerLink, answerer: PeerLink, chunkSize: number, total = TOTAL_BYTES, label = "bulk") =>
  Effect.gen(function*() {
    const remote = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === label), Stream.runHead))
    const channel = yield* offerer.peer.createDataChannel({ label, ordered: true })
    yield* channel.opened
    const theirs = Option.getOrThrow(yield* Fiber.join(remote))
    const receiving = yield* Effect.forkChild(theirs.messages.pipe(
      Stream.scan((): number => 0, (total: number, m) => total + (typeof m === "string" ? m.length : m.byteLength)),
      Stream.takeUntil((received) => received >= total),
      Stream.runDrain
    ))
    const chunk = written(chunkSize)
    yield* Effect.promise(settle)
    const start = performance.now()
    for (let sent = 0; sent < total; sent += chunk.byteLength) yield* channel.send(chunk)
    yield* Fiber.join(receiving)
    const mbPerSecond = total / 1024 / 1024 / ((performance.now() - start) / 1000)
    yield* channel.close
    return mbPerSecond
  })

const sum = (values: ReadonlyArray<number>) => values.reduce((total, value) => total + value, 0)

const range = (values: ReadonlyArray<number>, digits: number) =>
  `${Math.min(...values).toFixed(digits)}–${Math.max(...values).toFixed(digits)}`

/** Medians of ours and raw over the rounds where raw went first (`true`) or ours (`false`), or over all. */
const medians = (rounds: Paired, rawFirst?: boolean) => {
  const pick = (values: ReadonlyArray<number>) => values.filter((_, i) => rawFirst === undefined || rounds.rawFirst[i] === rawFirst)
  return { ours: median(pick(rounds.mine)), raw: median(pick(rounds.raw)) }
}

/** "ratio 0.93x (raw first 0.91x, ours first 0.95x)": medians' ratio over all rounds and per order. */
const ratios = (rounds: Paired) => {
  const ratio = (m: { ours: number; raw: number }) => `${(m.ours / m.raw).toFixed(2)}x`
  return `ratio ${ratio(medians(rounds))} (raw first ${ratio(medians(rounds, true))}, ours first ${ratio(medians(rounds, false))})`
}

/** `WEBRTC_BENCH_STACKS=node-datachannel` measures only the stacks named (comma-separated); all by default. */
const selected = () => {
  const names = process.env.WEBRTC_BENCH_STACKS?.split(",").map((name) => name.trim()).filter((name) => name !== "")
  return names === undefined || names.length === 0 ? stacks : stacks.filter((stack) => names.includes(stack.name))
}

/** What V8 collected by itself inside the rounds' clocks (pauses, approximate: reported asynchronously; and the major collections it started), and the process's CPU a round. */
const gcTimes = (rounds: Paired) =>
  `GC in the timed rounds ours ${range(rounds.mineGcMs, 0)} ms, raw ${range(rounds.rawGcMs, 0)} ms, major collections ours ${sum(rounds.mineMajors)}, raw ${sum(rounds.rawMajors)} in ${rounds.raw.length} rounds; process CPU a round, median ours ${median(rounds.mineCpuMs).toFixed(0)} ms, raw ${median(rounds.rawCpuMs).toFixed(0)} ms`

export const main = async () => {
  gcObserver.observe({ entryTypes: ["gc"] })
  console.log(`webrtc: our API beside the library's own, same run, loopback; raw and ours in turn, the order alternating round by round, garbage collected before each clock; setup ×${SETUPS}, RTT median of ${RTT_ROUNDS} × ${PINGS} (after ${RTT_WARMUP_ROUNDS * PINGS} untimed), ${TOTAL_BYTES / 1024 / 1024} MiB one way median of ${THROUGHPUT_ROUNDS}, 16 MiB message median of ${BIG_ROUNDS}`)
  for (const stack of selected()) {
    const { bigAssembled, bigMessage, rtt, setup, throughput } = await Effect.runPromise(sideBySide(stack))
    const rttMs = medians(rtt)
    const mbs = medians(throughput)
    const big = medians(bigMessage)
    console.log(`\n${stack.name}`)
    console.log(`  setup median   ours ${median(setup.mine).toFixed(1)} ms (through the gateway)   raw ${median(setup.raw).toFixed(1)} ms (in-process signaling)`)
    const refusals = rawRefusals.get(stack.name) ?? 0
    if (refusals > 0) console.log(`  (raw: ${refusals} pairs refused by the library's own signaling or not open within ${RAW_PAIR_TIMEOUT_MS / 1000} s were made again)`)
    console.log(`  setup p95      ours ${percentile(setup.mine, 95).toFixed(1)} ms   raw ${percentile(setup.raw, 95).toFixed(1)} ms   max ours ${Math.max(...setup.mine).toFixed(1)} raw ${Math.max(...setup.raw).toFixed(1)} (goal, node-datachannel: ours p95 <= 20 ms)`)
    console.log(`  RTT            ours ${rttMs.ours.toFixed(3)} ms   raw ${rttMs.raw.toFixed(3)} ms   ${ratios(rtt)} (goal <= 1.15x; rounds ours ${range(rtt.mine, 3)}, raw ${range(rtt.raw, 3)})`)
    console.log(`  throughput     ours ${mbs.ours.toFixed(1)} MB/s   raw ${mbs.raw.toFixed(1)} MB/s   ${ratios(throughput)} (goal >= 0.9x; rounds ours ${range(throughput.mine, 1)}, raw ${range(throughput.raw, 1)}; ${gcTimes(throughput)})`)
    console.log(`  16 MiB message ours ${big.ours.toFixed(1)} MB/s (framed)   raw ${big.raw.toFixed(1)} MB/s (same bytes in ${stack.chunk / 1024} KiB chunks)   ${ratios(bigMessage)} (goal >= 0.9x; rounds ours ${range(bigMessage.mine, 1)}, raw ${range(bigMessage.raw, 1)}; ${gcTimes(bigMessage)})`)
    const assembled = medians(bigAssembled)
    console.log(`  16 MiB, raw assembling  ours ${assembled.ours.toFixed(1)} MB/s   raw ${assembled.raw.toFixed(1)} MB/s (the chunks copied into one 16 MiB buffer, as an application must to hold the message)   ${ratios(bigAssembled)} (no goal: where the gap above goes; rounds ours ${range(bigAssembled.mine, 1)}, raw ${range(bigAssembled.raw, 1)}; ${gcTimes(bigAssembled)})`)
  }
}
