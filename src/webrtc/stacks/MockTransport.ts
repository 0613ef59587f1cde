/**
 * The in-memory mock Layer: a deterministic stand-in for a WebRTC stack, behind the same W3C
 * interface as the real Layers, for tests of everything above the stack.
 *
 * It behaves as a stack would where that matters here: offers and answers carry a certificate
 * fingerprint and ICE credentials; candidates point at an endpoint of the mock network; the
 * connection opens only when both sides hold each other's descriptions and a candidate, and only
 * if each side's fingerprint is the one the other applied (the DTLS check). A `MockNetwork`
 * injects faults: ICE failure, delay, a vanished peer, a broken path.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { Transport, type TransportPeer } from "../peer/Transport.ts"

/** Faults the mock network can be told to produce. */
export interface MockNetwork {
  /** ICE checks fail for new connections. */
  failIce: boolean
  /** Delay (ms) before ICE completes and before each message arrives. */
  delayMs: number
  /** The path of the connection whose certificate has this fingerprint breaks: messages are dropped, both sides fail. */
  readonly breakPath: (fingerprint: string) => void
  /** The peer whose certificate has this fingerprint vanishes (its process died): the other side fails. */
  readonly vanish: (fingerprint: string) => void
}

/** How long a connection stays `disconnected` before it is `failed`, in ms. */
const DISCONNECTED_TO_FAILED_MS = 50

let nextId = 1

const randomHex = (bytes: number) =>
  Array.from(globalThis.crypto.getRandomValues(new Uint8Array(bytes)), (b) => b.toString(16).padStart(2, "0").toUpperCase()).join(":")

const sdpOf = (pc: MockPeerConnection, type: "offer" | "answer", setup: string) =>
  [
    "v=0",
    `o=- ${pc.id} 0 IN IP4 127.0.0.1`,
    "s=-",
    "t=0 0",
    "a=group:BUNDLE 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
    "c=IN IP4 0.0.0.0",
    "a=mid:0",
    `a=ice-ufrag:${pc.ufrag}`,
    `a=ice-pwd:${pc.pwd}`,
    `a=fingerprint:sha-256 ${pc.fingerprint}`,
    `a=setup:${type === "offer" ? "actpass" : setup}`,
    "a=sctp-port:5000",
    "a=max-message-size:262144",
    ""
  ].join("\r\n")

const attribute = (sdp: string, name: string) => new RegExp(`^a=${name}:(.+?)\\r?$`, "m").exec(sdp)?.[1]

class MockDataChannel extends EventTarget {
  readonly label: string
  readonly protocol: string
  readonly ordered: boolean
  readonly maxRetransmits: number | null
  readonly maxPacketLifeTime: number | null
  readonly negotiated: boolean
  id: number | null
  readyState: RTCDataChannelState = "connecting"
  bufferedAmount = 0
  bufferedAmountLowThreshold = 0
  binaryType = "arraybuffer"
  counterpart: MockDataChannel | undefined
  readonly owner: MockPeerConnection

  constructor(owner: MockPeerConnection, label: string, init: RTCDataChannelInit, id: number | null) {
    super()
    this.owner = owner
    this.label = label
    this.protocol = init.protocol ?? ""
    this.ordered = init.ordered ?? true
    this.maxRetransmits = init.maxRetransmits ?? null
    this.maxPacketLifeTime = init.maxPacketLifeTime ?? null
    this.negotiated = init.negotiated ?? false
    this.id = init.id ?? id
  }

  open() {
    if (this.readyState !== "connecting") return
    this.readyState = "open"
    this.dispatchEvent(new Event("open"))
  }

  send(data: string | ArrayBufferLike | ArrayBufferView | Blob) {
    if (this.readyState !== "open") throw new Error("InvalidStateError: the channel is not open")
    const copy = typeof data === "string"
      ? data
      : ArrayBuffer.isView(data)
      ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength).slice().buffer
      : (data as ArrayBuffer).slice(0)
    const target = this.counterpart
    this.owner.network.deliver(this.owner, () => {
      if (target?.readyState === "open") target.dispatchEvent(Object.assign(new Event("message"), { data: copy }))
    })
  }

  close() {
    if (this.readyState === "closed") return
    this.readyState = "closed"
    this.dispatchEvent(new Event("close"))
    const other = this.counterpart
    this.counterpart = undefined
    if (other !== undefined) queueMicrotask(() => other.close())
  }
}

class MockPeerConnection extends EventTarget {
  readonly id = nextId++
  readonly port = 40_000 + this.id
  readonly ufrag = randomHex(4).replace(/:/g, "")
  readonly pwd = randomHex(12).replace(/:/g, "")
  readonly fingerprint = randomHex(32)
  readonly network: MockNetworkImpl
  connectionState: RTCPeerConnectionState = "new"
  iceConnectionState: RTCIceConnectionState = "new"
  signalingState: RTCSignalingState = "stable"
  localDescription: RTCSessionDescriptionInit | null = null
  remoteDescription: RTCSessionDescriptionInit | null = null
  remote: MockPeerConnection | undefined
  readonly channels: Array<MockDataChannel> = []
  nextChannelId = 0

  constructor(network: MockNetworkImpl) {
    super()
    this.network = network
    network.endpoints.set(this.port, this)
  }

  setConnectionState(state: RTCPeerConnectionState) {
    if (this.connectionState === state || this.connectionState === "closed") return
    this.connectionState = state
    this.dispatchEvent(new Event("connectionstatechange"))
  }
  setIceState(state: RTCIceConnectionState) {
    if (this.iceConnectionState === state || this.iceConnectionState === "closed") return
    this.iceConnectionState = state
    this.dispatchEvent(new Event("iceconnectionstatechange"))
  }

  async createOffer(): Promise<RTCSessionDescriptionInit> {
    return { type: "offer", sdp: sdpOf(this, "offer", "actpass") }
  }
  async createAnswer(): Promise<RTCSessionDescriptionInit> {
    if (this.remoteDescription === null) throw new Error("InvalidStateError: no remote offer")
    const remoteSetup = attribute(this.remoteDescription.sdp ?? "", "setup")
    return { type: "answer", sdp: sdpOf(this, "answer", remoteSetup === "active" ? "passive" : "active") }
  }
  async setLocalDescription(description: RTCSessionDescriptionInit) {
    if (description.type === "rollback") return this.rollback("have-local-offer")
    this.localDescription = description
    this.signalingState = description.type === "offer" ? "have-local-offer" : "stable"
    this.dispatchEvent(new Event("signalingstatechange"))
    queueMicrotask(() => {
      const candidate = { candidate: `candidate:1 1 udp 2130706431 127.0.0.1 ${this.port} typ host`, sdpMid: "0", sdpMLineIndex: 0, usernameFragment: this.ufrag }
      this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate }))
      this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: null }))
    })
    this.tryConnect()
  }
  async setRemoteDescription(description: RTCSessionDescriptionInit) {
    if (description.type === "rollback") return this.rollback("have-remote-offer")
    this.remoteDescription = description
    this.signalingState = description.type === "offer" ? "have-remote-offer" : "stable"
    this.dispatchEvent(new Event("signalingstatechange"))
    this.tryConnect()
  }
  rollback(from: RTCSignalingState) {
    if (this.signalingState !== from) throw new Error(`InvalidStateError: nothing to roll back in ${this.signalingState}`)
    if (from === "have-local-offer") this.localDescription = null
    else this.remoteDescription = null
    this.signalingState = "stable"
    this.dispatchEvent(new Event("signalingstatechange"))
  }
  async addIceCandidate(candidate: RTCIceCandidateInit) {
    if (candidate.candidate === undefined || candidate.candidate === "") return
    const port = Number(candidate.candidate.split(" ")[5])
    const peer = this.network.endpoints.get(port)
    if (peer !== undefined && peer !== this) this.remote = peer
    this.tryConnect()
  }

  createDataChannel(label: string, init: RTCDataChannelInit = {}): RTCDataChannel {
    const channel = new MockDataChannel(this, label, init, null)
    this.channels.push(channel)
    if (this.connectionState === "connected") this.pair(channel)
    return channel as unknown as RTCDataChannel
  }

  /** Opens a local channel together with a counterpart announced to the peer. */
  pair(channel: MockDataChannel) {
    const peer = this.remote
    if (peer === undefined || channel.counterpart !== undefined) return
    if (channel.negotiated) {
      // Negotiated channels are created by both sides with the same id and are not announced.
      const other = peer.channels.find((c) => c.negotiated && c.id === channel.id && c.counterpart === undefined)
      if (other === undefined) return
      channel.counterpart = other
      other.counterpart = channel
      channel.open()
      other.open()
      return
    }
    if (channel.id === null) channel.id = this.nextChannelId++ * 2 + (this.localDescription?.type === "offer" ? 0 : 1)
    const init: RTCDataChannelInit = {
      ordered: channel.ordered,
      protocol: channel.protocol,
      negotiated: channel.negotiated,
      ...(channel.maxRetransmits === null ? {} : { maxRetransmits: channel.maxRetransmits }),
      ...(channel.maxPacketLifeTime === null ? {} : { maxPacketLifeTime: channel.maxPacketLifeTime })
    }
    const other = new MockDataChannel(peer, channel.label, init, channel.id)
    peer.channels.push(other)
    channel.counterpart = other
    other.counterpart = channel
    peer.dispatchEvent(Object.assign(new Event("datachannel"), { channel: other }))
    channel.open()
    other.open()
  }

  /** ICE and DTLS: both sides ready, each holding the other's real fingerprint. */
  tryConnect() {
    const peer = this.remote
    if (peer === undefined || peer.remote !== this || this.connectionState !== "new" || peer.connectionState !== "new") return
    if (this.localDescription === null || this.remoteDescription === null || peer.localDescription === null || peer.remoteDescription === null) return
    for (const side of [this, peer]) {
      side.setIceState("checking")
      side.setConnectionState("connecting")
    }
    this.network.after(this.network.delayMs, () => {
      if (this.network.failIce) {
        for (const side of [this, peer]) {
          side.setIceState("failed")
          side.setConnectionState("failed")
        }
        return
      }
      for (const side of [this, peer]) side.setIceState("connected")
      const dtlsOk = attribute(this.remoteDescription?.sdp ?? "", "fingerprint") === `sha-256 ${peer.fingerprint}` &&
        attribute(peer.remoteDescription?.sdp ?? "", "fingerprint") === `sha-256 ${this.fingerprint}`
      for (const side of [this, peer]) side.setConnectionState(dtlsOk ? "connected" : "failed")
      if (!dtlsOk) return
      for (const channel of this.channels) this.pair(channel)
      for (const channel of peer.channels) peer.pair(channel)
    })
  }

  /** The path is gone: disconnected, then failed, and every channel closes. */
  lose() {
    this.setIceState("disconnected")
    this.setConnectionState("disconnected")
    this.network.after(DISCONNECTED_TO_FAILED_MS, () => {
      this.setIceState("failed")
      this.setConnectionState("failed")
      for (const channel of this.channels) if (channel.readyState !== "closed") channel.close()
    })
  }

  close() {
    if (this.connectionState === "closed") return
    for (const channel of this.channels) {
      const other = channel.counterpart
      channel.counterpart = undefined
      if (channel.readyState !== "closed") {
        channel.readyState = "closed"
        channel.dispatchEvent(new Event("close"))
      }
      if (other !== undefined) queueMicrotask(() => other.close())
    }
    this.signalingState = "closed"
    this.iceConnectionState = "closed"
    this.connectionState = "closed"
    this.network.endpoints.delete(this.port)
    const peer = this.remote
    // As over SCTP: the peer notices its channels closing, not a `closed` state.
    if (peer !== undefined && peer.connectionState !== "closed") this.network.after(0, () => peer.lose())
  }

  getStats() {
    return Promise.resolve(new Map())
  }
}

class MockNetworkImpl implements MockNetwork {
  failIce = false
  delayMs = 0
  readonly endpoints = new Map<number, MockPeerConnection>()
  readonly broken = new Set<MockPeerConnection>()
  readonly timers = new Set<ReturnType<typeof setTimeout>>()

  after(ms: number, run: () => void) {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      run()
    }, ms)
    this.timers.add(timer)
  }
  deliver(from: MockPeerConnection, run: () => void) {
    if (this.broken.has(from) || (from.remote !== undefined && this.broken.has(from.remote))) return
    if (this.delayMs === 0) queueMicrotask(run)
    else this.after(this.delayMs, run)
  }
  byFingerprint(fingerprint: string) {
    for (const pc of this.endpoints.values()) if (pc.fingerprint === fingerprint) return pc
    return undefined
  }
  breakPath = (fingerprint: string) => {
    const mock = this.byFingerprint(fingerprint)
    if (mock === undefined) return
    this.broken.add(mock)
    mock.lose()
    mock.remote?.lose()
  }
  vanish = (fingerprint: string) => {
    const mock = this.byFingerprint(fingerprint)
    if (mock === undefined) return
    this.endpoints.delete(mock.port)
    this.broken.add(mock)
    mock.remote?.lose()
  }
  stop() {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }
}

/** A mock network; its pending timers stop with the scope. */
export const makeNetwork = Effect.acquireRelease(Effect.sync(() => new MockNetworkImpl()), (network) => Effect.sync(() => network.stop()))

/** The mock as the WebRTC stack, on `network` (one network per test, shared by its agents). */
export const layer = (network: MockNetwork): Layer.Layer<Transport> =>
  Layer.succeed(Transport, Transport.of({
    name: "mock",
    create: () =>
      Effect.acquireRelease(
        Effect.sync((): TransportPeer => {
          const mock = new MockPeerConnection(network as MockNetworkImpl)
          return {
            pc: mock as unknown as RTCPeerConnection,
            remoteFingerprint: () => mock.connectionState === "connected" && mock.remote !== undefined ? { algorithm: "sha-256", value: mock.remote.fingerprint } : undefined,
            selectedPair: () =>
              Effect.succeed(mock.remote === undefined ? undefined : {
                localType: "host",
                remoteType: "host",
                localAddress: `127.0.0.1:${mock.port}`,
                remoteAddress: `127.0.0.1:${mock.remote.port}`,
                roundTripTimeMs: 0
              })
          }
        }),
        ({ pc }) => Effect.sync(() => pc.close())
      ),
    prepareRemoteOffer: (sdp) => ({ sdp, holdRemoteCandidates: false }),
    maxMessageSize: 256 * 1024,
    supportsIceRestart: false,
    supportsRollback: true,
    resolvesMdns: true
  }))
