/**
 * ICE candidate lines of IoAP v1 (PROTOCOL.md 5.1, RFC 8839): `RTCIceCandidate.candidate` decoded to
 * its fields and encoded to the canonical line. It checks syntax and ranges only: the WebRTC stack
 * remains the judge of everything else. Browser-safe: no Node APIs.
 *
 * @since 0.1.0
 */
import { Effect, Result, Schema, SchemaGetter, SchemaIssue } from "effect"
import { ConnectionAddress, describeIssue, DIGITS, Port, TOKEN, VCHARS } from "./SdpSyntax.ts"

const PRINTABLE_ASCII = /^[\x20-\x7e]*$/

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
