/**
 * The werift Layer: a WebRTC stack in pure TypeScript (Node's UDP sockets underneath).
 *
 * werift's quirks, set here: its default ICE server is a public STUN host (we pass the gateway's
 * list, possibly empty; but its ICE layer still asks stun.l.google.com when the list has no STUN
 * URL, so without one we name the UDP TURN server, which answers STUN too; with neither, a
 * gateway for werift agents should hand out a STUN URL); it skips loopback host candidates unless 127.0.0.1 is added (`loopback`);
 * its SCTP max-message-size is 64 KiB; it supports ICE restart (whose checks we start: see
 * `startRestartedIce`) and rollback. werift makes one DTLS certificate per process; here each
 * connection gets its own, as in browsers and libdatachannel, so a rebuilt connection is told
 * from an ICE restart of the same one by its fingerprint (`LinkRecovery`).
 *
 * werift uses one STUN and one TURN server: the first of each in the list. It speaks TURN over
 * UDP, TCP and TLS; `turnTransport` picks which of the gateway's TURN URLs comes first. With the
 * relay-only policy the TURN servers are checked in that order before ICE (`NodeTurnCheck`) and the
 * first that grants an allocation is the one werift gets.
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { Effect, Layer } from "effect"
import { RTCDtlsTransport, RTCPeerConnection } from "werift"
import type { IceServer } from "../../protocol/Envelope.ts"
import { type PeerConnectionOptions, toRtcIceServers, Transport, type TransportPeer } from "../peer/Transport.ts"
import * as TurnCheck from "./NodeTurnCheck.ts"

/** How werift gathers candidates. */
export interface WeriftOptions {
  /** Use 127.0.0.1 only (tests and same-machine agents): werift otherwise skips loopback. */
  readonly loopback?: boolean
  /** Which TURN URLs werift tries (its first one is used): default, the gateway's order. */
  readonly turnTransport?: "udp" | "tcp" | "tls"
  /** Only TURN (no STUN, no other TURN transport): for networks where UDP does not get out. */
  readonly turnOnly?: boolean
}

const relayCheck = TurnCheck.cached()

/** The TURN servers werift may use, preferred transport first. */
const turnCandidates = (servers: ReadonlyArray<IceServer>, werift: WeriftOptions) => {
  const all = TurnCheck.turnServers(servers)
  const preferred = werift.turnTransport === undefined ? all : all.filter((s) => s.transport === werift.turnTransport)
  return werift.turnOnly === true ? preferred : [...preferred, ...all.filter((s) => !preferred.includes(s))]
}

/** The ICE servers as werift gets them: `turn` (if any) as its first TURN URL; STUN unless TURN only. */
const weriftServers = (servers: ReadonlyArray<IceServer>, turn: TurnCheck.TurnServer | undefined, werift: WeriftOptions): Array<IceServer> => {
  // werift queries stun.l.google.com when it is given no STUN server. The TURN server answers STUN
  // too: it is named instead when the list has no STUN URL and the TURN server is reached over
  // UDP, and always when TURN only (UDP is blocked then, so nobody waits for it: `stunGatherTimeout`).
  const turnAsStun = turn === undefined || (werift.turnOnly !== true && turn.transport !== "udp")
    ? []
    : [{ urls: [`stun:${turn.host.includes(":") ? `[${turn.host}]` : turn.host}:${turn.port}`] }]
  const listed = werift.turnOnly === true ? [] : TurnCheck.onlyUrls(servers, (url) => url.startsWith("stun"))
  const stun = listed.length > 0 ? listed : turnAsStun
  return turn === undefined
    ? stun
    : [...stun, { urls: [turn.url], ...(turn.username === undefined ? {} : { username: turn.username }), ...(turn.credential === undefined ? {} : { credential: turn.credential }) }]
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
  Effect.flatMap(
    options.iceTransportPolicy === "relay"
      ? TurnCheck.requireRelay(turnCandidates(options.iceServers, werift), relayCheck)
      : Effect.succeed(turnCandidates(options.iceServers, werift)[0]),
    (turn) => createWith(options, turn, werift)
  )

const createWith = (options: PeerConnectionOptions, turn: TurnCheck.TurnServer | undefined, werift: WeriftOptions) =>
  Effect.acquireRelease(
    Effect.map(newCertificate, (certificate): TransportPeer => {
      const native = new RTCPeerConnection({
        dtls: { keys: { certPem: certificate.certPem, keyPem: certificate.privateKey, signatureHash: certificate.signatureHash } },
        iceServers: toRtcIceServers(weriftServers(options.iceServers, turn, werift)) as never,
        ...(options.iceTransportPolicy === "relay" ? { iceTransportPolicy: "relay" as const } : {}),
        iceUseIpv4: true,
        // TURN only, UDP is blocked: no STUN answer will come, so gathering does not wait for one
        // (werift's default wait is 5 s).
        ...(werift.turnOnly === true ? { iceStunGatherTimeout: 0.05 } : {}),
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
              roundTripTimeMs: pair.rtt === undefined ? undefined : pair.rtt * 1000,
              ...(pair.localCandidate.type === "relay" && turn !== undefined ? { relayProtocol: turn.transport } : {})
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

/** werift as the WebRTC stack (the service; `layer` provides it). */
export const make = (werift: WeriftOptions = {}): Transport["Service"] =>
  Transport.of({
    name: "werift",
    create: (options) => create(options, werift),
    prepareRemoteOffer: (sdp) => ({ sdp, holdRemoteCandidates: false }),
    maxMessageSize: 64 * 1024,
    supportsIceRestart: true,
    supportsRollback: true,
    resolvesMdns: false
  })

/** werift as the WebRTC stack. */
export const layer = (werift: WeriftOptions = {}): Layer.Layer<Transport> => Layer.succeed(Transport, make(werift))
