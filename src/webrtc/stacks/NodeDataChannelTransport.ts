/**
 * The node-datachannel Layer (libdatachannel, native): the default WebRTC stack in Node.
 *
 * Peer connections are a W3C `RTCPeerConnection` over libdatachannel's native `PeerConnection`
 * (channels use node-datachannel's W3C `RTCDataChannel`); the native object also tells the DTLS
 * certificate fingerprint the remote side really presented.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { PeerConnection } from "node-datachannel"
import { RTCDataChannel as W3CDataChannel } from "node-datachannel/polyfill"
import type { IceServer } from "../../protocol/Envelope.ts"
import { type PeerConnectionOptions, type RemoteOffer, Transport, type TransportPeer } from "../peer/Transport.ts"
import * as TurnCheck from "./NodeTurnCheck.ts"

type NativeIceServer = string | {
  hostname: string
  port: number
  username?: string
  password?: string
  relayType?: "TurnUdp" | "TurnTcp" | "TurnTls"
}

/** libdatachannel's ICE server form. TURN credentials go in fields: TURN REST usernames hold colons. */
export const toNativeIceServers = (servers: ReadonlyArray<IceServer>): Array<NativeIceServer> =>
  servers.flatMap((server) =>
    server.urls.flatMap((url): Array<NativeIceServer> => {
      const match = /^(stun|stuns|turn|turns):([^:?]+|\[[^\]]+\])(?::(\d+))?(?:\?transport=(udp|tcp))?$/.exec(url)
      if (match === null) return []
      const [, scheme, hostname, port, transport] = match
      if (scheme === "stun" || scheme === "stuns") return [url]
      return [{
        hostname: hostname!.replace(/^\[|\]$/g, ""),
        port: Number(port ?? (scheme === "turns" ? 5349 : 3478)),
        ...(server.username === undefined ? {} : { username: server.username }),
        ...(server.credential === undefined ? {} : { password: server.credential }),
        relayType: scheme === "turns" ? "TurnTls" : transport === "tcp" ? "TurnTcp" : "TurnUdp"
      }]
    })
  )

/** How libdatachannel gathers candidates. */
export interface NodeDataChannelOptions {
  /** Bind ICE to this local address only (e.g. "127.0.0.1" for tests on loopback). */
  readonly bindAddress?: string
}

/**
 * libjuice speaks TURN over UDP only: libdatachannel ignores `turn:...?transport=tcp` and `turns:`
 * servers with a warning (libdatachannel issue #1484; TURN/TCP in libjuice is its issue #257, open).
 * So with the relay-only policy the UDP TURN servers are checked before ICE (`NodeTurnCheck`).
 */
const relayCheck = TurnCheck.cached()
const udpTurn = (options: PeerConnectionOptions) =>
  TurnCheck.turnServers(options.iceServers).filter((server) => server.transport === "udp")

let peers = 0

/** An SDP without its `a=candidate` lines, and those candidates with their media id. */
const withoutCandidates = (sdp: string) => {
  const candidates: Array<{ readonly candidate: string; readonly mid: string }> = []
  let mid = "0"
  const lines = sdp.split(/\r?\n/).filter((line) => {
    if (line.startsWith("a=mid:")) mid = line.slice(6)
    if (!line.startsWith("a=candidate:")) return true
    candidates.push({ candidate: line.slice(2), mid })
    return false
  })
  return { sdp: lines.join("\r\n"), candidates }
}

const invalidState = (message: string) => Object.assign(new Error(message), { name: "InvalidStateError" })

/**
 * The W3C `RTCPeerConnection` over libdatachannel's native API, with auto-negotiation off.
 *
 * node-datachannel's own polyfill negotiates by itself when a channel is created and can make
 * only one offer, so the signaling state would move without us. libdatachannel has no separate
 * "create" and "apply" of a description: `createOffer`/`createAnswer` apply it at once and the
 * following `setLocalDescription` with the same SDP does nothing more.
 */
class NativePeerConnection extends EventTarget {
  readonly native: PeerConnection
  #closed = false
  #channels = 0
  // Candidates libdatachannel refused because its ICE transport did not exist yet (it is set up
  // on its own thread); added again as soon as the transport reports progress.
  #early: Array<{ readonly candidate: string; readonly mid: string }> = []
  #retries = 0

  constructor(native: PeerConnection) {
    super()
    this.native = native
    native.onStateChange(() => this.dispatchEvent(new Event("connectionstatechange")))
    native.onIceStateChange(() => {
      this.#retryEarly()
      this.dispatchEvent(new Event("iceconnectionstatechange"))
    })
    native.onSignalingStateChange(() => this.dispatchEvent(new Event("signalingstatechange")))
    native.onLocalCandidate((candidate, sdpMid) =>
      this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: { candidate, sdpMid, sdpMLineIndex: 0, usernameFragment: null } })))
    native.onGatheringStateChange((state) => {
      this.#retryEarly()
      if (state === "complete") this.dispatchEvent(Object.assign(new Event("icecandidate"), { candidate: null }))
    })
    native.onDataChannel((channel) =>
      this.dispatchEvent(Object.assign(new Event("datachannel"), { channel: new W3CDataChannel(channel) as unknown })))
  }

  get connectionState(): RTCPeerConnectionState {
    return this.#closed ? "closed" : this.native.state()
  }
  get iceConnectionState(): RTCIceConnectionState {
    return this.#closed ? "closed" : this.native.iceState()
  }
  get signalingState(): RTCSignalingState {
    return this.#closed ? "closed" : this.native.signalingState() as RTCSignalingState
  }
  get localDescription(): RTCSessionDescriptionInit | null {
    return this.#closed ? null : this.native.localDescription() as RTCSessionDescriptionInit | null
  }
  get remoteDescription(): RTCSessionDescriptionInit | null {
    return this.#closed ? null : this.native.remoteDescription() as RTCSessionDescriptionInit | null
  }

  async createOffer(): Promise<RTCSessionDescriptionInit> {
    if (this.signalingState !== "stable") throw invalidState(`createOffer in state ${this.signalingState}`)
    // libdatachannel aborts the process (from its own thread) on an offer with nothing in it.
    if (this.#channels === 0) throw invalidState("libdatachannel cannot offer before a data channel exists")
    this.native.setLocalDescription("offer")
    return this.native.localDescription() as RTCSessionDescriptionInit
  }
  async createAnswer(): Promise<RTCSessionDescriptionInit> {
    if (this.signalingState !== "have-remote-offer") throw invalidState(`createAnswer in state ${this.signalingState}`)
    this.native.setLocalDescription("answer")
    return this.native.localDescription() as RTCSessionDescriptionInit
  }
  async setLocalDescription(description: RTCSessionDescriptionInit): Promise<void> {
    if (description.type === "rollback") throw invalidState("libdatachannel cannot roll back")
    if (this.native.localDescription()?.sdp === description.sdp) return
    throw invalidState("libdatachannel applies local descriptions when it creates them")
  }
  async setRemoteDescription(description: RTCSessionDescriptionInit): Promise<void> {
    if (description.type === "rollback") throw invalidState("libdatachannel cannot roll back")
    if (description.sdp === undefined || description.type === undefined) throw new TypeError("an SDP and its type are required")
    // Candidates inside the description are added one by one afterwards: libdatachannel can
    // refuse a description whose candidates arrive before its ICE transport is ready.
    const { candidates, sdp } = withoutCandidates(description.sdp)
    this.native.setRemoteDescription(sdp, description.type)
    for (const { candidate, mid } of candidates) this.#addCandidate(candidate, mid)
  }
  async addIceCandidate(candidate: RTCIceCandidateInit): Promise<void> {
    if (candidate.candidate === undefined || candidate.candidate === "") return
    this.#addCandidate(candidate.candidate, candidate.sdpMid ?? "0")
  }
  #addCandidate(candidate: string, mid: string) {
    try {
      this.native.addRemoteCandidate(candidate, mid)
    } catch (error) {
      if (!(error instanceof Error && error.message.includes("without ICE transport"))) throw error
      this.#early.push({ candidate, mid })
      setTimeout(() => this.#retryEarly(), 20)
    }
  }
  #retryEarly() {
    // Bounded: after about a second the candidates are given up (logged by nobody: ICE then fails
    // or succeeds with the others), so no timer outlives a dead connection.
    if (this.#closed || this.#early.length === 0 || this.#retries++ > 50) return
    const early = this.#early.splice(0)
    for (const { candidate, mid } of early) {
      try {
        this.native.addRemoteCandidate(candidate, mid)
      } catch {
        this.#early.push({ candidate, mid })
      }
    }
    if (this.#early.length > 0) setTimeout(() => this.#retryEarly(), 20)
  }
  createDataChannel(label: string, init: RTCDataChannelInit = {}): RTCDataChannel {
    this.#channels++
    const channel = this.native.createDataChannel(label, {
      protocol: init.protocol ?? "",
      // libdatachannel says "unordered", the W3C "ordered".
      unordered: init.ordered === false,
      ...(init.negotiated === true ? { negotiated: true } : {}),
      ...(init.id === undefined ? {} : { id: init.id }),
      ...(init.maxRetransmits === undefined ? {} : { maxRetransmits: init.maxRetransmits }),
      ...(init.maxPacketLifeTime === undefined ? {} : { maxPacketLifeTime: init.maxPacketLifeTime })
    })
    return new W3CDataChannel(channel, init as never) as unknown as globalThis.RTCDataChannel
  }
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.native.close()
  }
}

const create = (options: PeerConnectionOptions, local: NodeDataChannelOptions) =>
  Effect.andThen(
    options.iceTransportPolicy === "relay" ? TurnCheck.requireRelay(udpTurn(options), relayCheck) : Effect.void,
    createChecked(options, local)
  )

const createChecked = (options: PeerConnectionOptions, local: NodeDataChannelOptions) =>
  Effect.acquireRelease(
    Effect.sync((): TransportPeer => {
      const native = new PeerConnection(`peer-${++peers}`, {
        iceServers: toNativeIceServers(options.iceServers) as Array<string>,
        disableAutoNegotiation: true,
        ...(options.iceTransportPolicy === "relay" ? { iceTransportPolicy: "relay" as const } : {}),
        ...(local.bindAddress === undefined ? {} : { bindAddress: local.bindAddress })
      })
      const pc = new NativePeerConnection(native) as unknown as globalThis.RTCPeerConnection
      return {
        pc,
        remoteFingerprint: () => {
          try {
            const fingerprint = native.remoteFingerprint()
            return fingerprint.value === "" ? undefined : { algorithm: fingerprint.algorithm, value: fingerprint.value.toUpperCase() }
          } catch {
            return undefined
          }
        },
        selectedPair: () => Effect.sync(() => {
          const pair = native.getSelectedCandidatePair()
          if (pair === null) return undefined
          return {
            localType: pair.local.type,
            remoteType: pair.remote.type,
            localAddress: `${pair.local.address}:${pair.local.port}`,
            remoteAddress: `${pair.remote.address}:${pair.remote.port}`,
            roundTripTimeMs: native.rtt() ?? undefined,
            ...(pair.local.type === "relay" ? { relayProtocol: "udp" as const } : {})
          }
        })
      }
    }),
    ({ pc }) => Effect.sync(() => pc.close())
  )

/** Whether an SDP was written by libdatachannel (its origin line says `rtc`). */
const fromLibdatachannel = (sdp: string): boolean => /^o=rtc /m.test(sdp)

/**
 * How this side answers an offer, against two start-up races of libdatachannel 0.24 (with libjuice,
 * whose checks after the first are paced 50 ms apart):
 *
 * - An answerer in the DTLS client role (the default answer to `a=setup:actpass`) sends its
 *   ClientHello as soon as its own ICE check succeeds, which (it knows the offerer's candidates from
 *   the offer) is before the offerer has the answer and a DTLS transport: the copy is lost and the
 *   handshake waits for OpenSSL's 1 s retransmit (the raw benchmark's case: most pairs on an idle
 *   machine). So the offer's `actpass` becomes `active`: the answer says `passive`, this side is the
 *   DTLS server. `passive` in an answer is legal for any offerer, but werift 0.25 as offerer fails
 *   the handshake with it (measured: 10/10 failed): only offers written by libdatachannel are changed.
 * - The libdatachannel offerer, then DTLS client, has a narrower race: applying the answer,
 *   libdatachannel hands the ICE credentials to libjuice before it stores the answer's fingerprint,
 *   and libjuice at once checks the pair our early checks created; if the offerer's thread is
 *   descheduled in between, its handshake reaches our certificate first and fails ("certificate
 *   verify failed": none idle in an earlier session; 1–13 of 20 connects at load average 2–9 on 2
 *   cores). The offerer tries again with a new connection, which this side answers the slower,
 *   safe way: it holds the offerer's candidates and keeps the DTLS client role. Without our early checks the offerer's ICE
 *   connects only after its description is whole; ours connects on its paced check ~50 ms later,
 *   when the offerer's DTLS transport is up (~65 ms a setup, measured 0 failures in 20).
 */
const answerOffer = (sdp: string, context: { readonly failedAttempts: number }): RemoteOffer => {
  if (!fromLibdatachannel(sdp)) return { sdp, holdRemoteCandidates: false }
  if (context.failedAttempts >= 1) return { sdp, holdRemoteCandidates: true }
  return { sdp: sdp.replace(/^a=setup:actpass\r?$/gm, (line) => line.replace("actpass", "active")), holdRemoteCandidates: false }
}

/** node-datachannel as the WebRTC stack (the service; `layer` provides it). */
export const make = (local: NodeDataChannelOptions = {}): Transport["Service"] => Transport.of({
  name: "node-datachannel",
  create: (options) => create(options, local),
  prepareRemoteOffer: answerOffer,
  maxMessageSize: 256 * 1024,
  sendCopiesData: true,
  supportsIceRestart: false,
  supportsRollback: false,
  // libjuice asks the system resolver, which does not speak mDNS on a usual Linux host.
  resolvesMdns: false
})

/** node-datachannel as the WebRTC stack. */
export const layer = (local: NodeDataChannelOptions = {}): Layer.Layer<Transport> => Layer.succeed(Transport, make(local))
