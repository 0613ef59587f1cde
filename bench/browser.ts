/**
 * Browser benchmark, in one run on a shared machine (Debian's Chromium, headless, loopback):
 *
 * - bundle: the `aiconexus/browser` entry minified and gzipped, and what takes the space;
 * - ours: a browser agent (the bundle in Chromium) connecting to a node-datachannel Agent through
 *   a gateway: setup from `connect` to an open session ×20, then 32 MiB one way over a data channel
 *   (64 KiB messages, our backpressure);
 * - raw: Chromium's own RTCPeerConnection against node-datachannel's own API, no code of ours,
 *   signaling handed over in-process (page ↔ Node): the same setup and the same 32 MiB.
 */
import { Effect } from "effect"
import { RTCPeerConnection as NdcPeerConnection } from "node-datachannel/polyfill"
import type { Page } from "playwright-core"
import * as NodeDataChannelTransport from "../src/webrtc/stacks/NodeDataChannelTransport.ts"
import { librarySize } from "../scripts/browserBundle.ts"
import { call, harnessPage, launch, nodeAgent } from "../test/browser/chromium.ts"
import { benchGateway } from "./webrtc.ts"

const SETUPS = 20
const TOTAL_BYTES = 32 * 1024 * 1024

const percentile = (values: ReadonlyArray<number>, p: number) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`

/** node-datachannel's own RTCPeerConnection answering the page's offers (`toNode` in test/browser/rawPeer.ts). */
const rawAnswerer = async (page: Page) => {
  let pc: RTCPeerConnection | undefined
  let described: Promise<void> = Promise.resolve()
  await page.exposeFunction("toNode", async (message: { readonly offer?: string; readonly candidate?: string; readonly mid?: string | null }) => {
    if (message.offer !== undefined) {
      pc?.close()
      const current = new NdcPeerConnection({ iceServers: [], bindAddress: "127.0.0.1" } as never) as unknown as RTCPeerConnection
      pc = current
      current.addEventListener("datachannel", (event) => {
        const channel = (event as RTCDataChannelEvent).channel
        let total = Infinity
        let received = 0
        channel.addEventListener("message", ({ data }) => {
          if (typeof data === "string") total = Number(data)
          else received += (data as ArrayBuffer).byteLength
          if (received >= total) channel.send("done")
        })
      })
      current.addEventListener("icecandidate", (event) => {
        const candidate = (event as RTCPeerConnectionIceEvent).candidate
        if (candidate !== null && candidate.candidate !== "") {
          // Late candidates of a connection being closed may find the page gone.
          page.evaluate(([c, mid]) => globalThis.rawPeer.candidate(c, mid), [candidate.candidate, candidate.sdpMid ?? "0"] as const).catch(() => undefined)
        }
      })
      described = current.setRemoteDescription({ type: "offer", sdp: message.offer })
      await described
      await current.setLocalDescription(await current.createAnswer())
      return current.localDescription!.sdp
    }
    // As our candidate policy does on Node: Chromium's mDNS names are not resolvable here.
    if (message.candidate !== undefined && !/\.local /.test(message.candidate)) {
      await described
      await pc?.addIceCandidate({ candidate: message.candidate, sdpMid: message.mid ?? "0" }).catch(() => undefined)
    }
    return ""
  })
  return { close: () => pc?.close() }
}

const run = Effect.gen(function*() {
  const gateway = yield* benchGateway
  const node = yield* nodeAgent(gateway.url, NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" }))
  const { page } = yield* harnessPage(yield* launch)
  const raw = yield* Effect.promise(() => rawAnswerer(page))
  yield* Effect.addFinalizer(() => Effect.sync(raw.close))

  const rawSetup: Array<number> = []
  for (let i = 0; i < SETUPS; i++) {
    rawSetup.push(yield* Effect.promise(() => page.evaluate(() => globalThis.rawPeer.connect())))
    if (i < SETUPS - 1) yield* Effect.promise(() => page.evaluate(() => globalThis.rawPeer.close()))
  }
  const rawThroughput = yield* Effect.promise(() => page.evaluate((total) => globalThis.rawPeer.throughput(total), TOTAL_BYTES))
  yield* Effect.promise(() => page.evaluate(() => globalThis.rawPeer.close()))

  yield* call(page, "start", "bench", { url: gateway.url })
  const ourSetup: Array<number> = []
  for (let i = 0; i < SETUPS; i++) {
    ourSetup.push(yield* call(page, "connect", "bench", node.agent.did))
    if (i < SETUPS - 1) yield* call(page, "disconnect", "bench", node.agent.did)
  }
  const ourThroughput = yield* call(page, "sink", "bench", node.agent.did, TOTAL_BYTES)
  return { ourSetup, ourThroughput, rawSetup, rawThroughput }
}).pipe(Effect.scoped)

export const main = async () => {
  console.log("browser: Chromium (headless, Debian's package) with a node-datachannel agent on loopback; the machine is shared with other work, so numbers vary between runs")
  const size = await librarySize()
  console.log(`\nbundle aiconexus/browser (src/browser/index.ts, esbuild, minified)`)
  console.log(`  ${kib(size.minifiedBytes)} minified, ${kib(size.gzippedBytes)} gzipped`)
  console.log(`  by package (minified bytes in the bundle): ${size.byPackage.slice(0, 8).map(([name, bytes]) => `${name} ${kib(bytes)}`).join(", ")}`)

  const result = await Effect.runPromise(run)
  const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}x`
  console.log(`\nbrowser <-> node-datachannel, setup x${SETUPS}, ${TOTAL_BYTES / 1024 / 1024} MiB one way (browser -> node)`)
  console.log(`  setup median   ours ${percentile(result.ourSetup, 50).toFixed(1)} ms (through the gateway)   raw ${percentile(result.rawSetup, 50).toFixed(1)} ms (in-process signaling)   ratio ${ratio(percentile(result.ourSetup, 50), percentile(result.rawSetup, 50))}`)
  console.log(`  setup p95      ours ${percentile(result.ourSetup, 95).toFixed(1)} ms   raw ${percentile(result.rawSetup, 95).toFixed(1)} ms   ratio ${ratio(percentile(result.ourSetup, 95), percentile(result.rawSetup, 95))}`)
  console.log(`  throughput     ours ${result.ourThroughput.toFixed(1)} MB/s   raw ${result.rawThroughput.toFixed(1)} MB/s   ratio ${ratio(result.ourThroughput, result.rawThroughput)}`)
}
