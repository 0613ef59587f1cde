/**
 * Session descriptions of IoAP v1 (PROTOCOL.md 5.1): the SDP an OFFER or ANSWER carries, and what
 * IoAP reads from it (RFC 8866 SDP, RFC 8122 fingerprints, RFC 8841 SCTP over DTLS). It checks
 * syntax and ranges only: the WebRTC stack remains the judge of everything else (and verifies the
 * DTLS certificate against the fingerprint). Browser-safe: no Node APIs.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema } from "effect"
import { isMaxUtf8Bytes, utf8ByteLength } from "./Utf8.ts"
import { describeIssue, DIGITS, TOKEN } from "./SdpSyntax.ts"


/** The largest SDP IoAP carries, in UTF-8 bytes (PROTOCOL.md 5.1). */
export const MAX_SDP_BYTES = 32 * 1024

/** An SDP text of at most 32 KiB in UTF-8. */
export const Sdp = Schema.String.check(isMaxUtf8Bytes(MAX_SDP_BYTES))

/** The kinds of session description IoAP exchanges. */
export const SdpType = Schema.Literals(["offer", "answer"])

/** The kinds of session description IoAP exchanges. */
export type SdpType = typeof SdpType.Type

/** A session description as `RTCSessionDescriptionInit` holds it (offer or answer only). */
export const SessionDescription = Schema.Struct({ type: SdpType, sdp: Sdp })

/** A session description as `RTCSessionDescriptionInit` holds it (offer or answer only). */
export type SessionDescription = typeof SessionDescription.Type

const DIGEST_BYTES = { "sha-1": 20, "sha-224": 28, "sha-256": 32, "sha-384": 48, "sha-512": 64 } as const

/** A certificate fingerprint hash (RFC 8122; the retired MD2 and MD5 are refused). */
export const FingerprintAlgorithm = Schema.Literals(["sha-1", "sha-224", "sha-256", "sha-384", "sha-512"])

/** A certificate fingerprint hash (RFC 8122; the retired MD2 and MD5 are refused). */
export type FingerprintAlgorithm = typeof FingerprintAlgorithm.Type

/** A DTLS certificate fingerprint: upper-case hex bytes joined by colons, as long as the algorithm's digest. */
export const DtlsFingerprint = Schema.Struct({
  algorithm: FingerprintAlgorithm,
  value: Schema.String.check(
    Schema.isPattern(/^[0-9A-F]{2}(?::[0-9A-F]{2})*$/, { description: "upper-case hex bytes separated by colons" })
  )
}).check(
  Schema.makeFilter((f) => {
    const bytes = DIGEST_BYTES[f.algorithm]
    return (f.value.length + 1) / 3 === bytes ||
      { path: ["value"], issue: `a ${f.algorithm} fingerprint has ${bytes} bytes` }
  })
)

/** A DTLS certificate fingerprint. */
export type DtlsFingerprint = typeof DtlsFingerprint.Type

/** An ICE username fragment: 4 to 256 ice-chars (RFC 8839 section 5.4). */
export const IceUfrag = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9+/]{4,256}$/, { description: "4 to 256 ice-chars" })
)

/** An ICE password: 22 to 256 ice-chars (RFC 8839 section 5.4). */
export const IcePwd = Schema.String.check(
  Schema.isPattern(/^[A-Za-z0-9+/]{22,256}$/, { description: "22 to 256 ice-chars" })
)

/** What IoAP reads from an SDP. */
export const SdpInfo = Schema.Struct({
  fingerprint: DtlsFingerprint,
  iceUfrag: IceUfrag,
  icePwd: IcePwd,
  mids: Schema.Array(Schema.String),
  hasDataChannel: Schema.Boolean,
  maxMessageSize: Schema.optionalKey(
    Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }))
  )
})

/** What IoAP reads from an SDP. */
export type SdpInfo = typeof SdpInfo.Type

/** An SDP that is too large, malformed, or lacks what the DTLS binding and ICE need. */
export class InvalidSdp extends Schema.TaggedError<InvalidSdp>()("InvalidSdp", {
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid SDP: ${this.reason}`
  }
}

interface MediaSection {
  readonly line: number
  readonly dataChannel: boolean
  mid: string | undefined
  maxMessageSize: number | undefined
  fingerprint: DtlsFingerprint | undefined
  iceUfrag: string | undefined
  icePwd: string | undefined
}

const decodeFingerprint = Schema.decodeUnknownResult(DtlsFingerprint)
const decodeIceUfrag = Schema.decodeUnknownResult(IceUfrag)
const decodeIcePwd = Schema.decodeUnknownResult(IcePwd)

/** Reads an SDP (CRLF or LF line endings) into `SdpInfo`, or the reason it is unusable. */
const readSdp = (sdp: string): Result.Result<SdpInfo, string> => {
  const size = utf8ByteLength(sdp)
  if (size > MAX_SDP_BYTES) return Result.fail(`${size} bytes, more than ${MAX_SDP_BYTES}`)
  const lines = sdp.split("\n")
  if (lines[lines.length - 1] === "") lines.pop()
  if (lines.length === 0) return Result.fail("empty")
  const session: Omit<MediaSection, "line" | "dataChannel" | "mid" | "maxMessageSize"> = {
    fingerprint: undefined,
    iceUfrag: undefined,
    icePwd: undefined
  }
  const media: Array<MediaSection> = []
  for (let n = 0; n < lines.length; n++) {
    const raw = lines[n]!
    const text = raw.endsWith("\r") ? raw.slice(0, -1) : raw
    const at = `line ${n + 1}`
    if (n === 0 && text !== "v=0") return Result.fail("does not start with \"v=0\"")
    if (!/^[a-z]=[^\r]*$/.test(text)) return Result.fail(`${at} is not <type>=<value>`)
    if (text.startsWith("m=")) {
      // m=<media> <port>[/<count>] <proto> <fmt> ...
      const fields = text.slice(2).split(" ")
      if (fields.length < 4 || fields.includes("") || !/^[0-9]+(?:\/[0-9]+)?$/.test(fields[1]!)) {
        return Result.fail(`${at}: malformed m= line`)
      }
      media.push({
        line: n + 1,
        dataChannel: fields[0] === "application" && fields[2]!.endsWith("DTLS/SCTP") &&
          fields.slice(3).includes("webrtc-datachannel"),
        mid: undefined,
        maxMessageSize: undefined,
        fingerprint: undefined,
        iceUfrag: undefined,
        icePwd: undefined
      })
      continue
    }
    if (!text.startsWith("a=")) continue
    const colon = text.indexOf(":")
    if (colon === -1) continue // a property attribute such as a=sendrecv
    const name = text.slice(2, colon)
    const value = text.slice(colon + 1)
    const section = media[media.length - 1]
    const level = section ?? session
    switch (name) {
      case "fingerprint": {
        const [algorithm, hex, ...rest] = value.split(" ")
        if (hex === undefined || rest.length > 0) return Result.fail(`${at}: expected a=fingerprint:<hash> <hex bytes>`)
        const fingerprint = decodeFingerprint({ algorithm: algorithm!.toLowerCase(), value: hex.toUpperCase() })
        if (Result.isFailure(fingerprint)) {
          return Result.fail(`${at}: a=fingerprint ${describeIssue(fingerprint.failure.issue)}`)
        }
        level.fingerprint ??= fingerprint.success
        break
      }
      case "ice-ufrag": {
        const ufrag = decodeIceUfrag(value)
        if (Result.isFailure(ufrag)) return Result.fail(`${at}: a=ice-ufrag ${describeIssue(ufrag.failure.issue)}`)
        level.iceUfrag ??= ufrag.success
        break
      }
      case "ice-pwd": {
        const pwd = decodeIcePwd(value)
        if (Result.isFailure(pwd)) return Result.fail(`${at}: a=ice-pwd ${describeIssue(pwd.failure.issue)}`)
        level.icePwd ??= pwd.success
        break
      }
      case "mid": {
        if (section === undefined) break
        if (!TOKEN.test(value)) return Result.fail(`${at}: a=mid is not a token`)
        if (section.mid !== undefined) {
          return Result.fail(`${at}: a second a=mid in the media section of line ${section.line}`)
        }
        if (media.some((m) => m.mid === value)) return Result.fail(`${at}: a=mid:${value} is used twice`)
        section.mid = value
        break
      }
      case "max-message-size": {
        if (section === undefined) break
        const size = Number(value)
        if (!DIGITS.test(value) || !Number.isSafeInteger(size)) {
          return Result.fail(`${at}: a=max-message-size is not a number`)
        }
        section.maxMessageSize ??= size
        break
      }
    }
  }
  // A session-level value holds for every media section; failing that, the first media section's counts.
  const pick = <K extends "fingerprint" | "iceUfrag" | "icePwd">(key: K) =>
    session[key] ?? media.find((m) => m[key] !== undefined)?.[key]
  const fingerprint = pick("fingerprint")
  if (fingerprint === undefined) return Result.fail("no a=fingerprint (the DTLS binding needs it)")
  const iceUfrag = pick("iceUfrag")
  if (iceUfrag === undefined) return Result.fail("no a=ice-ufrag")
  const icePwd = pick("icePwd")
  if (icePwd === undefined) return Result.fail("no a=ice-pwd")
  const dataChannel = media.find((m) => m.dataChannel)
  return Result.succeed({
    fingerprint,
    iceUfrag,
    icePwd,
    mids: media.flatMap((m) => (m.mid === undefined ? [] : [m.mid])),
    hasDataChannel: dataChannel !== undefined,
    ...(dataChannel?.maxMessageSize !== undefined ? { maxMessageSize: dataChannel.maxMessageSize } : {})
  })
}

/** Reads the fingerprint, ICE credentials, mids and data channel section of an SDP. */
export const parseSdp = (sdp: string): Effect.Effect<SdpInfo, InvalidSdp> =>
  Effect.fromResult(Result.mapError(readSdp(sdp), (reason) => new InvalidSdp({ reason })))
