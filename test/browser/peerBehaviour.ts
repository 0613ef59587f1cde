/**
 * What every agent of the browser tests and benchmark does, in Node and in Chromium alike
 * (browser-safe): serves `echo`, records the INTENTs it receives, echoes each message of a framed
 * `bulk` channel and confirms the bytes of a `sink` channel.
 */
import { Effect, Fiber, Option, type Scope, Stream } from "effect"
import type { PeerSession, Served } from "../../src/agent/Agent.ts"
import * as FramedChannel from "../../src/webrtc/framing/FramedChannel.ts"
import type * as DataChannel from "../../src/webrtc/peer/DataChannel.ts"

/** The capability every test agent serves: its args back, and who answered. */
export const echo = (by: string): Served => ({
  capability: { id: "echo", name: "echo", description: "answers with its arguments" },
  handler: (args) => Effect.succeed({ by, echoed: args })
})

const framed = (session: PeerSession, channel: Parameters<typeof FramedChannel.make>[0]) =>
  FramedChannel.make(channel, { maxFragmentBytes: session.link.peer.maxMessageSize })

/**
 * Records INTENTs in `intents`, echoes every framed `bulk` channel the peer opens and confirms
 * what arrives on `sink` channels, until the scope closes.
 */
export const serveSession = (session: PeerSession, intents: Array<unknown>): Effect.Effect<void, never, Scope.Scope> =>
  Effect.gen(function*() {
    yield* Effect.forkScoped(Stream.runForEach(session.intents, (intent) => Effect.sync(() => void intents.push(intent))))
    yield* Effect.forkScoped(Stream.runForEach(session.link.peer.remoteChannels, (channel) =>
      channel.label === "sink"
        ? Effect.forkScoped(serveSink(channel))
        : channel.label === "bulk"
        ? Effect.forkScoped(Effect.gen(function*() {
          const bulk = yield* framed(session, channel)
          yield* Stream.runForEach(bulk.messages, (message) => bulk.send(message))
        }).pipe(Effect.ignore))
        : Effect.void))
  })

/** The `sink` channel's protocol: the total announced first (text), then bytes; `done` once all arrived. */
const serveSink = (channel: DataChannel.DataChannel) =>
  Effect.gen(function*() {
    let total = Infinity
    let received = 0
    yield* Stream.runForEach(channel.messages, (message) => {
      if (typeof message === "string") total = Number(message)
      else received += message.byteLength
      return received >= total ? channel.send("done") : Effect.void
    })
  }).pipe(Effect.ignore)

/**
 * Sends `total` bytes one way over a new `sink` channel in `chunk`-byte messages (each send waits
 * while the channel's buffer is full) and returns MB/s once the peer confirmed them all.
 */
export const sinkThroughput = (session: PeerSession, total: number, chunk = 64 * 1024) =>
  Effect.gen(function*() {
    const channel = yield* session.link.peer.createDataChannel({ label: "sink", ordered: true })
    yield* channel.opened
    const done = yield* Effect.forkChild(Stream.runHead(channel.messages))
    const bytes = new Uint8Array(chunk)
    const started = performance.now()
    yield* channel.send(String(total))
    for (let sent = 0; sent < total; sent += chunk) yield* channel.send(bytes)
    yield* Fiber.join(done)
    const seconds = (performance.now() - started) / 1000
    yield* channel.close
    return total / 1024 / 1024 / seconds
  })

/** Sends `bytes` random bytes over a new framed `bulk` channel and waits for them back. */
export const bulkRoundTrip = (session: PeerSession, bytes: number) =>
  Effect.gen(function*() {
    const channel = yield* session.link.peer.createDataChannel(FramedChannel.config("bulk"))
    yield* channel.opened
    const bulk = yield* framed(session, channel)
    const payload = new Uint8Array(bytes)
    for (let offset = 0; offset < bytes; offset += 65_536) globalThis.crypto.getRandomValues(payload.subarray(offset, Math.min(bytes, offset + 65_536)))
    const back = yield* Effect.forkChild(Stream.runHead(bulk.messages))
    const started = performance.now()
    yield* bulk.send(payload)
    const echoed = Option.getOrUndefined(yield* Fiber.join(back))
    const ms = performance.now() - started
    yield* channel.close
    const same = echoed instanceof Uint8Array && echoed.byteLength === bytes && echoed.every((byte, i) => byte === payload[i])
    return { same, received: echoed instanceof Uint8Array ? echoed.byteLength : -1, ms, fragmentBytes: yield* session.link.peer.maxMessageSize }
  })
