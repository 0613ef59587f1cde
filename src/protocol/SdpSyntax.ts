/**
 * The pieces of the SDP grammar (RFC 8866) that ICE candidate lines (RFC 8839), session
 * descriptions and data channel settings share: tokens, visible characters, connection addresses
 * and ports; and one line describing a Schema issue, for their errors. Browser-safe: no Node APIs.
 *
 * @since 0.1.0
 */
import { Schema, SchemaIssue } from "effect"

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

const formatter = SchemaIssue.makeFormatterStandardSchemaV1()

/** One line describing a Schema issue: `path: message`, several joined by "; ". */
export const describeIssue = (issue: SchemaIssue.Issue): string =>
  formatter(issue).issues.map(({ message, path }) =>
    path === undefined || path.length === 0
      ? message
      : `${path.map((segment) => String(typeof segment === "object" ? segment.key : segment)).join(".")}: ${message}`
  ).join("; ")

// RFC 8866 token: any visible ASCII except the separators "(),/:;<=>?@[\]"` and space.
export const TOKEN = /^[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+$/
// RFC 5234 VCHAR: visible ASCII.
export const VCHARS = /^[\x21-\x7e]+$/
export const DIGITS = /^[0-9]+$/

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
