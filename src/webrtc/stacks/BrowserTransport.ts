/**
 * The browser Layer: the browser's own `RTCPeerConnection` as the WebRTC stack.
 *
 * The browser checks that the certificate the peer presents in DTLS matches the fingerprint of the
 * (signed) remote SDP, so the DID binding holds as with the Node stacks; the fingerprint it saw is
 * read back from `getStats()`: the `transport` entry's `remoteCertificateId` names a `certificate`
 * entry with `fingerprintAlgorithm` and `fingerprint`.
 *
 * Chromium's limits, set here: SCTP max-message-size 256 KiB (framed channels split larger
 * messages) and a send buffer that closes the channel past 16 MiB (`DataChannel` stops queueing at
 * 1 MiB and waits for `bufferedamountlow`). Chromium can restart ICE and roll back.
 *
 * Chromium announces its host candidates as mDNS names (`<uuid>.local`) unless the page may use
 * the camera: see `CandidatePolicy` for how agents treat them.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import { type Fingerprint, type PeerConnectionOptions, type SelectedPair, toRtcIceServers, Transport, type TransportPeer } from "../peer/Transport.ts"

/** Chromium's SCTP max-message-size. */
export const MAX_MESSAGE_SIZE = 256 * 1024

type StatsEntry = Record<string, unknown> & { readonly id: string; readonly type: string }

const entries = (report: RTCStatsReport): Array<StatsEntry> => {
  const all: Array<StatsEntry> = []
  report.forEach((entry: StatsEntry) => void all.push(entry))
  return all
}

/** The remote certificate's fingerprint in a stats report, as SDP writes it (upper-case hex). */
export const remoteFingerprintOf = (report: RTCStatsReport): Fingerprint | undefined => {
  const all = entries(report)
  const transport = all.find((entry) => entry.type === "transport" && typeof entry["remoteCertificateId"] === "string")
  const certificate = all.find((entry) => entry.id === transport?.["remoteCertificateId"])
  const algorithm = certificate?.["fingerprintAlgorithm"]
  const value = certificate?.["fingerprint"]
  return typeof algorithm === "string" && typeof value === "string" ? { algorithm, value: value.toUpperCase() } : undefined
}

/** What a selected pair's address says where the browser does not tell it (the port follows). */
export const HIDDEN_ADDRESS = "[hidden]"

/** The selected candidate pair in a stats report. */
export const selectedPairOf = (report: RTCStatsReport): SelectedPair | undefined => {
  const all = entries(report)
  const byId = (id: unknown) => all.find((entry) => entry.id === id)
  const transport = all.find((entry) => entry.type === "transport" && typeof entry["selectedCandidatePairId"] === "string")
  const pair = byId(transport?.["selectedCandidatePairId"]) ?? all.find((entry) => entry.type === "candidate-pair" && entry["nominated"] === true && entry["state"] === "succeeded")
  if (pair === undefined) return undefined
  const local = byId(pair["localCandidateId"])
  const remote = byId(pair["remoteCandidateId"])
  if (local === undefined || remote === undefined) return undefined
  // Chromium leaves the addresses out of the stats of a page it hides its host addresses from.
  const address = (candidate: StatsEntry) => {
    const ip = candidate["address"] ?? candidate["ip"]
    return `${typeof ip === "string" && ip !== "" ? ip : HIDDEN_ADDRESS}:${String(candidate["port"])}`
  }
  const rtt = pair["currentRoundTripTime"]
  return {
    localType: String(local["candidateType"]),
    remoteType: String(remote["candidateType"]),
    localAddress: address(local),
    remoteAddress: address(remote),
    roundTripTimeMs: typeof rtt === "number" ? rtt * 1000 : undefined
  }
}

const create = (options: PeerConnectionOptions) =>
  Effect.acquireRelease(
    Effect.sync((): TransportPeer => {
      const pc = new globalThis.RTCPeerConnection({ iceServers: toRtcIceServers(options.iceServers) })
      // `remoteFingerprint` is synchronous, `getStats` is not: the fingerprint is read as soon as
      // the connection is up (DTLS done) and kept; asked before that, it starts another read.
      let fingerprint: Fingerprint | undefined
      const read = () => {
        if (pc.connectionState !== "connected") return
        pc.getStats().then((report) => {
          fingerprint = remoteFingerprintOf(report) ?? fingerprint
        }, () => undefined)
      }
      pc.addEventListener("connectionstatechange", read)
      return {
        pc,
        remoteFingerprint: () => {
          if (fingerprint === undefined) read()
          return fingerprint
        },
        selectedPair: () => Effect.promise(() => pc.getStats().then(selectedPairOf, () => undefined))
      }
    }),
    ({ pc }) => Effect.sync(() => pc.close())
  )

/** The browser's WebRTC as the stack. */
export const layer: Layer.Layer<Transport> = Layer.succeed(Transport, Transport.of({
  name: "browser",
  create,
  prepareRemoteOffer: (sdp) => ({ sdp, holdRemoteCandidates: false }),
  maxMessageSize: MAX_MESSAGE_SIZE,
  supportsIceRestart: true,
  supportsRollback: true,
  // Chromium resolves other browsers' `.local` names itself.
  resolvesMdns: true
}))
