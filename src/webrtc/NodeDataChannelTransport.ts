/**
 * The node-datachannel Layer (libdatachannel, native): the default WebRTC stack in Node.
 *
 * Peer connections are node-datachannel's W3C polyfill over a native `PeerConnection` this module
 * creates itself, so it can read the DTLS certificate the remote side really presented.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { PeerConnection } from "node-datachannel"
import { RTCPeerConnection } from "node-datachannel/polyfill"
import type { IceServer } from "../protocol/Envelope.ts"
import { type PeerConnectionOptions, Transport, type TransportPeer } from "./Transport.ts"

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

let peers = 0

const create = (options: PeerConnectionOptions, local: NodeDataChannelOptions) =>
  Effect.acquireRelease(
    Effect.sync((): TransportPeer => {
      const native = new PeerConnection(`peer-${++peers}`, {
        iceServers: toNativeIceServers(options.iceServers) as Array<string>,
        ...(local.bindAddress === undefined ? {} : { bindAddress: local.bindAddress })
      })
      const pc = new RTCPeerConnection({ peerConnection: native } as never) as unknown as globalThis.RTCPeerConnection
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
            roundTripTimeMs: native.rtt() ?? undefined
          }
        })
      }
    }),
    ({ pc }) => Effect.sync(() => pc.close())
  )

/**
 * The offer with `a=setup:actpass` turned into `active`, so the answer says `passive` and this
 * side (the answerer) is the DTLS server. libdatachannel 0.24's answerer, as DTLS client, may send
 * its ClientHello before the offerer's DTLS transport exists; the copy is lost and the handshake
 * waits for the 1 s retransmit (~10% of pairs). `passive` in an answer is legal for any offerer.
 */
const takeDtlsClientRole = (sdp: string): string => sdp.replace(/^a=setup:actpass\r?$/gm, (line) => line.replace("actpass", "active"))

/** node-datachannel as the WebRTC stack. */
export const layer = (local: NodeDataChannelOptions = {}): Layer.Layer<Transport> => Layer.succeed(Transport, Transport.of({
  name: "node-datachannel",
  create: (options) => create(options, local),
  prepareRemoteOffer: takeDtlsClientRole,
  maxMessageSize: 256 * 1024,
  supportsIceRestart: false,
  supportsRollback: false
}))
