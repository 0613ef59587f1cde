/**
 * The werift Layer: a WebRTC stack in pure TypeScript (Node's UDP sockets underneath).
 *
 * werift's quirks, set here: its default ICE server is a public STUN host (we pass the gateway's
 * list, possibly empty); it skips loopback host candidates unless 127.0.0.1 is added (`loopback`);
 * its SCTP max-message-size is 64 KiB; it supports ICE restart and rollback.
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { Effect, Layer } from "effect"
import { RTCPeerConnection } from "werift"
import { type PeerConnectionOptions, toRtcIceServers, Transport, type TransportPeer } from "./Transport.ts"

/** How werift gathers candidates. */
export interface WeriftOptions {
  /** Use 127.0.0.1 only (tests and same-machine agents): werift otherwise skips loopback. */
  readonly loopback?: boolean
}

interface WeriftInternals {
  readonly dtlsTransports?: ReadonlyArray<{ readonly dtls?: { readonly remoteCertificate?: Uint8Array } }>
  readonly iceTransports?: ReadonlyArray<{
    readonly connection?: { readonly nominated?: { readonly localCandidate: WeriftCandidate; readonly remoteCandidate: WeriftCandidate; readonly rtt?: number } }
  }>
}
interface WeriftCandidate {
  readonly type: string
  readonly host: string
  readonly port: number
}

const create = (options: PeerConnectionOptions, werift: WeriftOptions) =>
  Effect.acquireRelease(
    Effect.sync((): TransportPeer => {
      const native = new RTCPeerConnection({
        iceServers: toRtcIceServers(options.iceServers) as never,
        iceUseIpv4: true,
        iceUseIpv6: false,
        ...(werift.loopback === true
          ? { iceAdditionalHostAddresses: ["127.0.0.1"], iceInterfaceAddresses: { udp4: "127.0.0.1" } }
          : {})
      })
      const internals = native as unknown as WeriftInternals
      return {
        pc: native as unknown as globalThis.RTCPeerConnection,
        remoteFingerprint: () => {
          const certificate = internals.dtlsTransports?.[0]?.dtls?.remoteCertificate
          if (certificate === undefined) return undefined
          return { algorithm: "sha-256", value: new NodeCrypto.X509Certificate(Buffer.from(certificate)).fingerprint256 }
        },
        selectedPair: () =>
          Effect.sync(() => {
            const pair = internals.iceTransports?.[0]?.connection?.nominated
            if (pair === undefined) return undefined
            return {
              localType: pair.localCandidate.type,
              remoteType: pair.remoteCandidate.type,
              localAddress: `${pair.localCandidate.host}:${pair.localCandidate.port}`,
              remoteAddress: `${pair.remoteCandidate.host}:${pair.remoteCandidate.port}`,
              roundTripTimeMs: pair.rtt === undefined ? undefined : pair.rtt * 1000
            }
          })
      }
    }),
    ({ pc }) => Effect.promise(async () => void (await pc.close()))
  )

/** werift as the WebRTC stack. */
export const layer = (werift: WeriftOptions = {}): Layer.Layer<Transport> =>
  Layer.succeed(Transport, Transport.of({
    name: "werift",
    create: (options) => create(options, werift),
    prepareRemoteOffer: (sdp) => sdp,
    maxMessageSize: 64 * 1024,
    supportsIceRestart: true,
    supportsRollback: true
  }))
