/**
 * The WebRTC stack behind a peer connection, as a Layer-provided service.
 *
 * Everything above this module talks to the W3C `RTCPeerConnection` / `RTCDataChannel`
 * interfaces only; a Layer supplies an implementation: node-datachannel (`NodeDataChannelTransport`,
 * the default in Node), werift (`NodeWeriftTransport`), the in-memory mock (`MockTransport`), and
 * the browser's own (`BrowserTransport`). A stack's known differences are declared here as data, not handled by
 * special cases in the state machines.
 *
 * @since 0.1.0
 */
import { Context, type Effect, Schema, type Scope } from "effect"
import type { IceServer } from "../../protocol/Envelope.ts"

/** A DTLS certificate fingerprint as SDP carries it (`a=fingerprint:<algorithm> <value>`). */
export interface Fingerprint {
  readonly algorithm: string
  readonly value: string
}

/** The selected ICE candidate pair, as far as the stack tells. */
export interface SelectedPair {
  readonly localType: string
  readonly remoteType: string
  readonly localAddress: string
  readonly remoteAddress: string
  readonly roundTripTimeMs: number | undefined
  /** With a local relay candidate: how this side reaches its TURN server (the relayed leg is UDP). */
  readonly relayProtocol?: "udp" | "tcp" | "tls" | undefined
}

/** Which local candidates ICE may use (W3C `RTCIceTransportPolicy`): all, or TURN relays only. */
export type IceTransportPolicy = "all" | "relay"

/** Options for one peer connection. */
export interface PeerConnectionOptions {
  readonly iceServers: ReadonlyArray<IceServer>
  /** Default "all". With "relay", a stack checks its TURN server first (`RelayUnavailable`). */
  readonly iceTransportPolicy?: IceTransportPolicy | undefined
}

/**
 * No TURN relay can be had where the connection needs one (relay-only policy, or only TURN over
 * TCP left): the server refused our credentials, or cannot be reached. Said before ICE starts,
 * instead of a connection that times out.
 */
export class RelayUnavailable extends Schema.TaggedError<RelayUnavailable>()("RelayUnavailable", {
  url: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `no TURN relay from ${this.url}: ${this.reason}`
  }
}

/** A peer connection of the stack, with the few things the W3C interface does not expose. */
export interface TransportPeer {
  readonly pc: RTCPeerConnection
  /** The certificate fingerprint the remote side actually presented in DTLS, once connected. */
  readonly remoteFingerprint: () => Fingerprint | undefined
  readonly selectedPair: () => Effect.Effect<SelectedPair | undefined>
  /**
   * Starts the connectivity checks of an ICE restart once both of its descriptions are applied,
   * where the stack does not by itself (werift 0.25 starts ICE only while DTLS is not up yet).
   */
  readonly startRestartedIce?: () => void
}

/** A remote offer as a stack applies it (see `Transport.prepareRemoteOffer`). */
export interface RemoteOffer {
  readonly sdp: string
  readonly holdRemoteCandidates: boolean
}

/** Longest an answerer holds the offerer's candidates (`RemoteOffer.holdRemoteCandidates`): past it, ICE gets them (a NAT may need this side's checks). */
export const HOLD_CANDIDATES_MS = 250

/** A WebRTC implementation. */
export class Transport extends Context.Service<Transport, {
  readonly name: string
  /** A new peer connection, closed when the scope closes. */
  readonly create: (options: PeerConnectionOptions) => Effect.Effect<TransportPeer, RelayUnavailable, Scope.Scope>
  /**
   * The remote offer as this stack should apply it, and whether the answerer holds the offerer's
   * candidates (those in the offer too: they are taken out of it) until its ICE connected or
   * `HOLD_CANDIDATES_MS` passed. The node-datachannel Layer takes the DTLS server role here (`a=setup:actpass` →
   * `active`) to avoid a start-up race in libdatachannel, and after failed attempts holds the
   * candidates instead (see `NodeDataChannelTransport`). The fingerprint is untouched, and the
   * offer's signature was verified before. `failedAttempts` says how many answers to the same peer
   * failed in a row moments ago (0 on a first attempt).
   */
  readonly prepareRemoteOffer: (sdp: string, context: { readonly failedAttempts: number }) => RemoteOffer
  /**
   * Whether a data channel's `send` copies the message's bytes before it returns (node-datachannel
   * does, into libdatachannel; werift keeps a reference). Absent: it may not.
   */
  readonly sendCopiesData?: boolean
  /** Largest message one data channel carries (SCTP max-message-size). */
  readonly maxMessageSize: number
  /** Whether the stack can restart ICE on a live connection. */
  readonly supportsIceRestart: boolean
  /** Whether the stack can roll back a pending offer. */
  readonly supportsRollback: boolean
  /**
   * Whether the stack resolves mDNS host names (`<uuid>.local`, as browsers announce their host
   * candidates). Where it does not, such candidates are dropped (`CandidatePolicy.forStack`).
   */
  readonly resolvesMdns: boolean
}>()("aiconexus/webrtc/Transport") {}

/** `RTCIceServer`s from the gateway's ICE servers. */
export const toRtcIceServers = (servers: ReadonlyArray<IceServer>): Array<RTCIceServer> =>
  servers.map((server) => ({
    urls: [...server.urls],
    ...(server.username === undefined ? {} : { username: server.username }),
    ...(server.credential === undefined ? {} : { credential: server.credential })
  }))
