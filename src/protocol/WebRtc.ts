/**
 * WebRTC models of IoAP v1 (PROTOCOL.md section 5): ICE candidate lines, session descriptions,
 * data channel configurations and connection states.
 *
 * Parsing follows the grammars of RFC 8839 (candidates), RFC 8866 (SDP), RFC 8122 (fingerprints)
 * and RFC 8841 (SCTP over DTLS). It checks syntax and ranges only: the WebRTC stack remains the
 * judge of everything else (and verifies the DTLS certificate against the fingerprint).
 * Browser-safe: no Node APIs.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema, SchemaGetter, SchemaIssue } from "effect"
import { isMaxUtf8Bytes, utf8ByteLength } from "./Utf8.ts"

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** One line describing a Schema issue: `path: message`, several joined by "; ". */
const describeIssue = (issue: SchemaIssue.Issue): string =>
  formatter(issue).issues.map(({ message, path }) =>
    path === undefined || path.length === 0
      ? message
      : `${path.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")}: ${message}`
  ).join("; ")

// RFC 8866 token: any visible ASCII except the separators "(),/:;<=>?@[\]"` and space.
const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/
// RFC 5234 VCHAR: visible ASCII.
const VCHARS = /^[\x21-\x7e]+$/
const DIGITS = /^[0-9]+$/
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

// ---------------------------------------------------------------------------
// Addresses
// ---------------------------------------------------------------------------

const IPV4_OCTET = /^(?:0|[1-9][0-9]{0,2})$/
const IPV6_GROUP = /^[0-9A-Fa-f]{1,4}$/
const HOST_LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/** Whether `s` is a dotted-quad IPv4 address (no leading zeros, as RFC 8866 writes them). */
export const isIPv4 = (s: string): boolean => {
  const octets = s.split(".")
  return octets.length === 4 && octets.every((octet) => IPV4_OCTET.test(octet) && Number(octet) <= 255)
}

/** Whether `s` is a textual IPv6 address (RFC 4291 section 2.2, no zone id). */
export const isIPv6 = (s: string): boolean => {
  const halves = s.split("::")
  if (halves.length > 2) return false
  const compressed = halves.length === 2
  let groups = 0
  // Counts the groups of one side of "::"; an embedded IPv4 address may only end the address.
  const count = (part: string, endsAddress: boolean): boolean => {
    if (part === "") return true
    const parts = part.split(":")
    for (let i = 0; i < parts.length; i++) {
      const group = parts[i]!
      if (IPV6_GROUP.test(group)) groups += 1
      else if (endsAddress && i === parts.length - 1 && isIPv4(group)) groups += 2
      else return false
    }
    return true
  }
  if (!count(halves[0]!, !compressed) || !count(halves[1] ?? "", true)) return false
  return compressed ? groups <= 7 : groups === 8
}

/** Whether `s` is a DNS host name (LDH labels, not all-numeric at the top), such as an mDNS `*.local` name. */
export const isHostName = (s: string): boolean => {
  if (s.length > 253) return false
  const labels = s.split(".")
  return labels.every((label) => HOST_LABEL.test(label)) && !DIGITS.test(labels[labels.length - 1]!)
}

/** Whether `s` is an SDP connection address: IPv4, IPv6 or a fully qualified domain name. */
export const isConnectionAddress = (s: string): boolean =>
  s.includes(":") ? isIPv6(s) : /^[0-9.]+$/.test(s) ? isIPv4(s) : isHostName(s)

/** An IPv4 address, an IPv6 address or a host name (mDNS `*.local` included). */
export const ConnectionAddress = Schema.String.check(
  Schema.makeFilter((s: string) => isConnectionAddress(s) || "not an IPv4 address, IPv6 address or host name", {
    description: "an IPv4 address, IPv6 address or host name"
  })
)

/** A port number, 0 to 65535. */
export const Port = Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 }))

// ---------------------------------------------------------------------------
// ICE candidates
// ---------------------------------------------------------------------------

/** An ICE candidate's transport, lower case. */
export const IceProtocol = Schema.Literals(["udp", "tcp"])

/** An ICE candidate's transport, lower case. */
export type IceProtocol = typeof IceProtocol.Type

/** An ICE candidate type (RFC 8445 section 5.1.1). */
export const IceCandidateType = Schema.Literals(["host", "srflx", "prflx", "relay"])

/** An ICE candidate type (RFC 8445 section 5.1.1). */
export type IceCandidateType = typeof IceCandidateType.Type

/** The role of a TCP candidate (RFC 6544 section 4.5). */
export const IceTcpType = Schema.Literals(["active", "passive", "so"])

/** The role of a TCP candidate (RFC 6544 section 4.5). */
export type IceTcpType = typeof IceTcpType.Type

// Attribute names with a fixed place in the line; they can never be extension attributes.
const RESERVED_NAMES: ReadonlySet<string> = new Set(["typ", "raddr", "rport", "tcptype"])

/** An extension attribute of a candidate line (`generation 0`, `ufrag EEtu`, `network-cost 999`...). */
export const IceCandidateExtension = Schema.Struct({
  name: Schema.String.check(
    Schema.isPattern(TOKEN, { description: "an SDP token" }),
    Schema.makeFilter((name: string) =>
      !RESERVED_NAMES.has(name.toLowerCase()) || `"${name}" is a candidate field, not an extension attribute`
    )
  ),
  value: Schema.String.check(Schema.isPattern(VCHARS, { description: "visible ASCII characters" }))
})

/** An extension attribute of a candidate line. */
export type IceCandidateExtension = typeof IceCandidateExtension.Type

/** The fields of an ICE candidate line (RFC 8839 section 5.1). */
export const IceCandidateFields = Schema.Struct({
  foundation: Schema.String.check(Schema.isPattern(/^[A-Za-z0-9+/]{1,32}$/, { description: "1 to 32 ice-chars" })),
  component: Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 256 })),
  protocol: IceProtocol,
  priority: Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 0xffff_ffff })),
  address: ConnectionAddress,
  port: Port,
  type: IceCandidateType,
  relatedAddress: Schema.optionalKey(ConnectionAddress),
  relatedPort: Schema.optionalKey(Port),
  tcpType: Schema.optionalKey(IceTcpType),
  extensions: Schema.Array(IceCandidateExtension)
}).check(
  Schema.makeFilter((c) =>
    c.tcpType === undefined || c.protocol === "tcp" ||
    { path: ["tcpType"], issue: "tcptype is only valid on a tcp candidate" }
  )
)

/** The fields of an ICE candidate line (RFC 8839 section 5.1). */
export type IceCandidateFields = typeof IceCandidateFields.Type

const CANDIDATE_PREFIX = "candidate:"

/** The canonical `candidate:` line: lower-case keywords, single spaces, raddr/rport/tcptype before extensions. */
export const formatIceCandidate = (c: IceCandidateFields): string => {
  let line = `${CANDIDATE_PREFIX}${c.foundation} ${c.component} ${c.protocol} ${c.priority}`
  line += ` ${c.address} ${c.port} typ ${c.type}`
  if (c.relatedAddress !== undefined) line += ` raddr ${c.relatedAddress}`
  if (c.relatedPort !== undefined) line += ` rport ${c.relatedPort}`
  if (c.tcpType !== undefined) line += ` tcptype ${c.tcpType}`
  for (const { name, value } of c.extensions) line += ` ${name} ${value}`
  return line
}

/**
 * Splits a candidate line into its fields. Keywords and enumerated values are case-insensitive
 * (RFC 5234 section 2.3) and come out lower case; ranges and formats are left to
 * `IceCandidateFields`.
 */
const splitCandidateLine = (line: string): Result.Result<IceCandidateFields, string> => {
  if (line === "") return Result.fail("empty (an empty candidate only marks the end of candidates)")
  if (line.startsWith("a=")) return Result.fail("starts with \"a=\": send the attribute value only (\"candidate:...\")")
  if (!line.startsWith(CANDIDATE_PREFIX)) return Result.fail("does not start with \"candidate:\"")
  if (!PRINTABLE_ASCII.test(line)) return Result.fail("contains characters other than printable ASCII (a line break?)")
  const tokens = line.slice(CANDIDATE_PREFIX.length).split(" ")
  if (tokens.includes("")) return Result.fail("fields must be separated by single spaces")
  if (tokens.length < 8) {
    return Result.fail("expected <foundation> <component> <transport> <priority> <address> <port> typ <type>")
  }
  const [foundation, component, transport, priority, address, port, typ, type] = tokens as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
    string
  ]
  if (typ.toLowerCase() !== "typ") return Result.fail(`expected "typ" after the port, got "${typ}"`)
  for (const [name, value] of [["component", component], ["priority", priority], ["port", port]] as const) {
    if (!DIGITS.test(value)) return Result.fail(`${name} "${value}" is not a decimal number`)
  }
  let i = 8
  // The optional fields with a fixed place, in the order RFC 8839 and RFC 6544 give them.
  const fixed: { raddr?: string; rport?: string; tcptype?: string } = {}
  for (const keyword of ["raddr", "rport", "tcptype"] as const) {
    if (tokens[i]?.toLowerCase() !== keyword) continue
    const value = tokens[i + 1]
    if (value === undefined) return Result.fail(`${keyword} has no value`)
    fixed[keyword] = value
    i += 2
  }
  if (fixed.rport !== undefined && !DIGITS.test(fixed.rport)) {
    return Result.fail(`rport "${fixed.rport}" is not a decimal number`)
  }
  if ((tokens.length - i) % 2 !== 0) return Result.fail("extension attributes must be name/value pairs")
  const extensions: Array<IceCandidateExtension> = []
  for (; i < tokens.length; i += 2) {
    const name = tokens[i]!
    if (RESERVED_NAMES.has(name.toLowerCase())) {
      return Result.fail(`"${name}" out of place (the order is typ, raddr, rport, tcptype, then extensions)`)
    }
    extensions.push({ name, value: tokens[i + 1]! })
  }
  return Result.succeed({
    foundation,
    component: Number(component),
    protocol: transport.toLowerCase() as IceProtocol,
    priority: Number(priority),
    address,
    port: Number(port),
    type: type.toLowerCase() as IceCandidateType,
    ...(fixed.raddr !== undefined ? { relatedAddress: fixed.raddr } : {}),
    ...(fixed.rport !== undefined ? { relatedPort: Number(fixed.rport) } : {}),
    ...(fixed.tcptype !== undefined ? { tcpType: fixed.tcptype.toLowerCase() as IceTcpType } : {}),
    extensions
  })
}

/** `RTCIceCandidate.candidate` (`candidate:...`, no `a=`) decoded to its fields; encodes to the canonical line. */
export const IceCandidate = Schema.String.pipe(
  Schema.decodeTo(IceCandidateFields, {
    decode: SchemaGetter.transformEffect((line: string, options) =>
      Result.match(splitCandidateLine(line), {
        onFailure: (reason) => Effect.fail(new SchemaIssue.InvalidValue({ message: reason }, line, options)),
        onSuccess: Effect.succeed
      })
    ),
    encode: SchemaGetter.transform(formatIceCandidate)
  })
)

/** Strips the `a=` prefix (and a trailing line break) that some stacks put on candidate lines. */
export const normalizeCandidateLine = (line: string): string =>
  (line.startsWith("a=") ? line.slice(2) : line).replace(/\r?\n$/, "")

/** A candidate line that does not follow RFC 8839. */
export class InvalidIceCandidate extends Schema.TaggedError<InvalidIceCandidate>()("InvalidIceCandidate", {
  line: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid ICE candidate ${JSON.stringify(this.line.slice(0, 120))}: ${this.reason}`
  }
}

const decodeIceCandidate = Schema.decodeUnknownResult(IceCandidate)

/** Parses a `candidate:` line into its fields, synchronously. */
export const parseIceCandidateLine = (line: string): Result.Result<IceCandidateFields, InvalidIceCandidate> =>
  Result.mapError(decodeIceCandidate(line), (error) => new InvalidIceCandidate({ line, reason: describeIssue(error.issue) }))

/** Parses a `candidate:` line into its fields. */
export const parseIceCandidate = (line: string): Effect.Effect<IceCandidateFields, InvalidIceCandidate> =>
  Effect.fromResult(parseIceCandidateLine(line))

// ---------------------------------------------------------------------------
// Session descriptions
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Data channels
// ---------------------------------------------------------------------------

const MAX_DATA_CHANNEL_STRING_BYTES = 65535

/** The options of `RTCPeerConnection.createDataChannel` (W3C WebRTC section 6.2, RFC 8832 limits). */
export const DataChannelConfig = Schema.Struct({
  label: Schema.String.check(isMaxUtf8Bytes(MAX_DATA_CHANNEL_STRING_BYTES)),
  ordered: Schema.optionalKey(Schema.Boolean),
  maxRetransmits: Schema.optionalKey(Port),
  maxPacketLifeTime: Schema.optionalKey(Port),
  protocol: Schema.optionalKey(Schema.String.check(isMaxUtf8Bytes(MAX_DATA_CHANNEL_STRING_BYTES))),
  negotiated: Schema.optionalKey(Schema.Boolean),
  id: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65534 })))
}).check(
  Schema.makeFilter((c) => {
    const issues: Array<Schema.FilterIssue> = []
    if (c.maxRetransmits !== undefined && c.maxPacketLifeTime !== undefined) {
      issues.push({ path: ["maxPacketLifeTime"], issue: "maxRetransmits and maxPacketLifeTime cannot both be set" })
    }
    if (c.negotiated === true && c.id === undefined) {
      issues.push({ path: ["id"], issue: "a negotiated channel needs an id" })
    }
    if (c.negotiated !== true && c.id !== undefined) {
      issues.push({ path: ["id"], issue: "an id is only given with negotiated: true" })
    }
    return issues
  })
)

/** The options of `RTCPeerConnection.createDataChannel`. */
export type DataChannelConfig = typeof DataChannelConfig.Type

// ---------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------

/** `RTCPeerConnectionState`. */
export const ConnectionState = Schema.Literals(["new", "connecting", "connected", "disconnected", "failed", "closed"])

/** `RTCPeerConnectionState`. */
export type ConnectionState = typeof ConnectionState.Type

/** `RTCIceConnectionState`. */
export const IceConnectionState = Schema.Literals([
  "new",
  "checking",
  "connected",
  "completed",
  "failed",
  "disconnected",
  "closed"
])

/** `RTCIceConnectionState`. */
export type IceConnectionState = typeof IceConnectionState.Type

/** The `RTCSignalingState`s IoAP passes through (no provisional answers). */
export const SignalingState = Schema.Literals(["stable", "have-local-offer", "have-remote-offer"])

/** The `RTCSignalingState`s IoAP passes through (no provisional answers). */
export type SignalingState = typeof SignalingState.Type
