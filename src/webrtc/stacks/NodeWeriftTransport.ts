/**
 * The werift Layer: a WebRTC stack in pure TypeScript (Node's UDP sockets underneath).
 *
 * werift's quirks, set here: its default ICE server is a public STUN host (we pass the gateway's
 * list, possibly empty); it skips loopback host candidates unless 127.0.0.1 is added (`loopback`);
 * its SCTP max-message-size is 64 KiB; it supports ICE restart (whose checks we start: see
 * `startRestartedIce`) and rollback. werift makes one DTLS certificate per process; here each
 * connection gets its own, as in browsers and libdatachannel, so a rebuilt connection is told
 * from an ICE restart of the same one by its fingerprint (`LinkRecovery`).
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { Effect, Layer } from "effect"
import { RTCDtlsTransport, RTCPeerConnection } from "werift"
import { type PeerConnectionOptions, toRtcIceServers, Transport, type TransportPeer } from "../peer/Transport.ts"

/** How werift gathers candidates. */
export interface WeriftOptions {
  /** Use 127.0.0.1 only (tests and same-machine agents): werift otherwise skips loopback. */
  readonly loopback?: boolean
}

interface WeriftInternals {
  readonly dtlsTransports?: ReadonlyArray<{ readonly dtls?: { readonly remoteCertificate?: Uint8Array } }>
  readonly iceTransports?: ReadonlyArray<{
    readonly state: string
    readonly start: () => Promise<void>
    readonly connection?: { readonly nominated?: { readonly localCandidate: WeriftCandidate; readonly remoteCandidate: WeriftCandidate; readonly rtt?: number } }
  }>
}
interface WeriftCandidate {
  readonly type: string
  readonly host: string
  readonly port: number
}

/** A new certificate: werift caches the one it makes in static fields, cleared first. */
const newCertificate = Effect.promise(() => {
  const cache = RTCDtlsTransport as unknown as { localCertificate?: unknown; localCertificatePromise?: unknown }
  cache.localCertificate = undefined
  cache.localCertificatePromise = undefined
  return RTCDtlsTransport.SetupCertificate()
})

const create = (options: PeerConnectionOptions, werift: WeriftOptions) =>
  Effect.acquireRelease(
    Effect.map(newCertificate, (certificate): TransportPeer => {
      const native = new RTCPeerConnection({
        dtls: { keys: { certPem: certificate.certPem, keyPem: certificate.privateKey, signatureHash: certificate.signatureHash } },
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
          }),
        // werift 0.25's connect() returns at once while DTLS is up, so after an ICE restart nothing
        // would run the checks: start the restarted transports (no nominated pair; werift reports
        // them "completed" once gathering ends) here. A failure shows as the ICE state `failed`.
        startRestartedIce: () => {
          for (const transport of internals.iceTransports ?? []) {
            if (transport.connection?.nominated === undefined && transport.state !== "checking" && transport.state !== "closed") {
              transport.start().catch(() => undefined)
            }
          }
        }
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
    supportsRollback: true,
    resolvesMdns: false
  }))
