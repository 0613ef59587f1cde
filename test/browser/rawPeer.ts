/**
 * Chromium's RTCPeerConnection driven directly, none of our code: the baseline of
 * `npm run bench -- browser`. The page offers; signaling goes through `toNode`, a function the
 * benchmark exposes to the page (the Node side answers with node-datachannel's own API).
 */
declare const toNode: (message: { readonly offer?: string; readonly candidate?: string; readonly mid?: string | null }) => Promise<string>

let pc: RTCPeerConnection | undefined
let channel: RTCDataChannel | undefined

const opened = (c: RTCDataChannel) =>
  new Promise<void>((resolve) => c.readyState === "open" ? resolve() : c.addEventListener("open", () => resolve(), { once: true }))

export const raw = {
  /** A new connection with one channel, open; returns the milliseconds it took. */
  connect: async () => {
    const started = performance.now()
    pc = new RTCPeerConnection()
    const current = pc
    channel = pc.createDataChannel("bench", { ordered: true })
    channel.binaryType = "arraybuffer"
    current.addEventListener("icecandidate", (event) => {
      if (event.candidate !== null && event.candidate.candidate !== "") void toNode({ candidate: event.candidate.candidate, mid: event.candidate.sdpMid })
    })
    await current.setLocalDescription(await current.createOffer())
    const answer = await toNode({ offer: current.localDescription!.sdp })
    await current.setRemoteDescription({ type: "answer", sdp: answer })
    await opened(channel)
    return performance.now() - started
  },
  /** A candidate of the Node side. */
  candidate: (candidate: string, mid: string) => pc?.addIceCandidate({ candidate, sdpMid: mid }),
  /** `total` bytes one way in 64 KiB messages, pausing while more than 1 MiB is buffered; MB/s once the Node side confirmed. */
  throughput: async (total: number) => {
    const c = channel!
    const chunk = new Uint8Array(64 * 1024)
    c.bufferedAmountLowThreshold = 256 * 1024
    const done = new Promise<void>((resolve) => c.addEventListener("message", () => resolve(), { once: true }))
    const started = performance.now()
    c.send(String(total))
    for (let sent = 0; sent < total; sent += chunk.byteLength) {
      if (c.bufferedAmount > 1024 * 1024) await new Promise<void>((resolve) => c.addEventListener("bufferedamountlow", () => resolve(), { once: true }))
      c.send(chunk)
    }
    await done
    return total / 1024 / 1024 / ((performance.now() - started) / 1000)
  },
  close: () => {
    pc?.close()
    pc = undefined
    channel = undefined
  }
}

declare global {
  // eslint-disable-next-line no-var
  var rawPeer: typeof raw
}
globalThis.rawPeer = raw
