/**
 * Shared pieces of the gateway benchmark's processes: the line protocol between the parent and
 * its children (JSON lines on stdout, commands on stdin), frame shapes and small statistics.
 */
import { Session } from "node:inspector"
import { writeFileSync } from "node:fs"
import { createInterface } from "node:readline"
import { Effect } from "effect"
import * as Envelope from "../../src/protocol/Envelope.ts"
import type * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"

/** The size every relayed message is made to have (the frame's text, in bytes). */
export const FRAME_BYTES = 600

/** One JSON line to the parent. */
export const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/**
 * Calls `onCommand` for each line the parent writes; exits when the parent closes stdin (so a
 * child never outlives a parent that died).
 */
export const commands = (onCommand: (line: string) => void): void => {
  const lines = createInterface({ input: process.stdin })
  lines.on("line", (line) => onCommand(line.trim()))
  lines.on("close", () => process.exit(0))
}

/** Runs a full garbage collection twice (under --expose-gc) and returns the process's memory usage. */
export const collect = (): NodeJS.MemoryUsage => {
  const gc = (globalThis as { gc?: () => void }).gc
  gc?.()
  gc?.()
  return process.memoryUsage()
}

let profiler: Session | undefined

/**
 * The stdin commands `prof-start` and `prof-stop <file>`: a CPU profile of just the time between
 * them (a whole-process --cpu-prof is mostly start-up and registration). Answers `{"event":"prof"}`.
 */
export const profileCommand = (line: string): boolean => {
  if (line === "prof-start") {
    profiler = new Session()
    profiler.connect()
    profiler.post("Profiler.enable", () => profiler!.post("Profiler.start", () => emit({ event: "prof" })))
    return true
  }
  if (line.startsWith("prof-stop ")) {
    const file = line.slice(10)
    profiler?.post("Profiler.stop", (error, result) => {
      if (error === null) writeFileSync(file, JSON.stringify(result.profile))
      profiler?.disconnect()
      profiler = undefined
      emit({ event: "prof", file })
    })
    return true
  }
  return false
}

/** The SDP of an OFFER, padded so that the whole frame is about `FRAME_BYTES` long. */
export const sdp = (padding: number): string =>
  [
    "v=0",
    "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=mid:0",
    `a=x-pad:${"p".repeat(Math.max(0, padding))}`,
    ""
  ].join("\r\n")

/** An OFFER draft whose signed frame is about `FRAME_BYTES` long (the SDP padding is tuned once). */
let offerPadding: number | undefined
export const offerDraft = (identity: Identity.Identity, to: Identity.Identity["did"]): Envelope.Draft<"OFFER"> => {
  if (offerPadding === undefined) {
    const probe = signSync(identity, { type: "OFFER", to, payload: { connection_id: globalThis.crypto.randomUUID(), sdp: sdp(0) } })
    offerPadding = FRAME_BYTES - probe.length
  }
  return { type: "OFFER", to, payload: { connection_id: globalThis.crypto.randomUUID(), sdp: sdp(offerPadding) } }
}

/** Signs a draft with node:crypto (synchronous) and returns the frame text. */
export const signSync = <T extends Envelope.Type>(identity: Identity.Identity, draft: Envelope.Draft<T>): string =>
  Envelope.encode(Effect.runSync(Effect.provide(Envelope.make(identity, draft), NodeEd25519.layer)))

const ID_MARKER = Buffer.from("\"id\":\"")

/** The first `"id":"…"` value of a frame (the envelope's id; PeerJS payloads put theirs first too). */
export const frameId = (frame: Buffer): string | undefined => {
  const at = frame.indexOf(ID_MARKER)
  return at < 0 ? undefined : frame.toString("latin1", at + ID_MARKER.length, at + ID_MARKER.length + 36)
}

/** The `p`-quantile (0–1) of ascending numbers. */
export const quantile = (sorted: ReadonlyArray<number>, p: number): number =>
  sorted.length === 0 ? Number.NaN : sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!

/** p50/p99/max of latency samples in ms. */
export const summarize = (samples: Array<number>) => {
  samples.sort((a, b) => a - b)
  return { count: samples.length, p50: quantile(samples, 0.5), p99: quantile(samples, 0.99), max: samples.at(-1) ?? Number.NaN }
}

/** Sleeps `ms` milliseconds. */
export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** Runs `task` over `items` with at most `concurrency` at once. */
export const pool = async <A>(items: ReadonlyArray<A>, concurrency: number, task: (item: A, index: number) => Promise<void>) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) {
      const index = next++
      await task(items[index]!, index)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
}
