/**
 * Which remote ICE candidates an agent accepts, by address kind.
 *
 * A remote peer chooses the addresses our stack will send connectivity checks to. By default an
 * agent accepts public and private-network addresses and mDNS names, and refuses loopback and
 * link-local ones (a remote peer has no business making us probe this host or its link); tests on
 * one machine turn loopback on. The end-of-candidates marker (`""`) is always accepted.
 *
 * mDNS names: browsers announce their host candidates as `<uuid>.local` names (so a page cannot
 * learn the machine's addresses). A stack that cannot resolve them (node-datachannel, werift:
 * `Transport.resolvesMdns`) drops them (`forStack`) instead of asking a resolver that cannot
 * answer; the connection still forms, through the peer-reflexive candidate the browser's own
 * connectivity checks create on our side, or through its server-reflexive and relay candidates.
 *
 * @since 0.1.0
 */
import { Result } from "effect"
import { parseIceCandidateLine } from "../../protocol/IceCandidate.ts"
import { isIPv4 } from "../../protocol/SdpSyntax.ts"

/** Address kinds a candidate may carry. */
export type AddressKind = "loopback" | "link-local" | "mdns" | "private" | "public"

/** Which kinds are accepted. */
export type CandidatePolicy = { readonly [K in AddressKind]: boolean }

/** Public, private and mDNS yes; loopback and link-local no. */
export const defaultPolicy: CandidatePolicy = { loopback: false, "link-local": false, mdns: true, private: true, public: true }

/** Everything, loopback included (agents on one machine, tests). */
export const allowAll: CandidatePolicy = { loopback: true, "link-local": true, mdns: true, private: true, public: true }

/** The policy as a stack applies it: no mDNS names where the stack cannot resolve them. */
export const forStack = (policy: CandidatePolicy, stack: { readonly resolvesMdns: boolean }): CandidatePolicy =>
  stack.resolvesMdns || !policy.mdns ? policy : { ...policy, mdns: false }

/** The kind of a candidate address. */
export const addressKind = (address: string): AddressKind => {
  const lower = address.toLowerCase()
  if (lower.endsWith(".local")) return "mdns"
  if (isIPv4(lower)) {
    const [a, b] = lower.split(".").map(Number) as [number, number]
    if (a === 127) return "loopback"
    if (a === 169 && b === 254) return "link-local"
    if (a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 100 && b >= 64 && b <= 127)) return "private"
    return "public"
  }
  if (lower === "::1") return "loopback"
  if (/^fe[89ab]/.test(lower)) return "link-local"
  if (/^f[cd]/.test(lower)) return "private"
  return "public"
}

/** Whether a remote `candidate:` line is accepted; an unparseable one never is. */
export const accepts = (policy: CandidatePolicy, line: string): boolean => {
  if (line === "") return true
  const parsed = parseIceCandidateLine(line)
  return Result.isSuccess(parsed) && policy[addressKind(parsed.success.address)]
}
