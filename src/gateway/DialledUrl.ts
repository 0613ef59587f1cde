/**
 * Which gateway a REGISTER names: its `endpoint` must be a URL of this gateway (PROTOCOL.md 4.2
 * step 4), so a REGISTER signed for another server is refused.
 *
 * With `publicUrls` configured the endpoint must be one of them exactly. Without them (the
 * default) its host and port must be those the client dialled: the connection's `Host` header,
 * or `X-Forwarded-Host` when the connection comes from a trusted proxy. The `Host` header is
 * chosen by the client, so only `publicUrls` pins the gateway's names against a client that
 * forges it; the default refuses a REGISTER carried to this gateway under another name by
 * anything that keeps the Host it was given (a relay, a proxy, a replaying client).
 *
 * @since 0.1.0
 */

/** Where the client says it dialled: the authority (`host[:port]`) of its upgrade request, lower-cased. */
export interface Dialled {
  readonly authority: string | undefined
}

/** The authority the client dialled: `X-Forwarded-Host` from a trusted proxy, else `Host`. */
export const dialled = (
  host: string | undefined,
  forwardedHost: string | undefined,
  fromTrustedProxy: boolean
): Dialled => {
  // A proxy chain appends: the first X-Forwarded-Host is the one the client dialled.
  const forwarded = fromTrustedProxy ? forwardedHost?.split(",")[0]?.trim() : undefined
  const authority = forwarded !== undefined && forwarded.length > 0 ? forwarded : host
  return { authority: authority === undefined ? undefined : normalizeAuthority(authority) }
}

/** `host[:port]` as `URL` writes it (lower case, no default port for ws/wss). */
const normalizeAuthority = (authority: string): string | undefined => {
  try {
    return new URL(`ws://${authority}`).host
  } catch {
    return undefined
  }
}

/** Why `endpoint` is not a URL of this gateway, or `undefined` when it is. */
export const refusal = (
  endpoint: string,
  publicUrls: ReadonlyArray<string>,
  dialledTo: Dialled
): string | undefined => {
  if (publicUrls.length > 0) return publicUrls.includes(endpoint) ? undefined : "the endpoint is not a URL of this gateway"
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    return "the endpoint is not a URL"
  }
  if (url.protocol !== "ws:" && url.protocol !== "wss:") return "the endpoint is not a ws:// or wss:// URL"
  if (dialledTo.authority === undefined) return "the connection named no host to check the endpoint against"
  // A port implied by the scheme may or may not be written: wss://h:443 and a Host of `h` are the same.
  return stripDefaultPort(url.host) === stripDefaultPort(dialledTo.authority)
    ? undefined
    : "the endpoint is not the host this connection dialled"
}

/** A Host of `h:80` or `h:443` names `h` (the port is implied by the scheme). */
const stripDefaultPort = (authority: string): string => authority.replace(/:(80|443)$/, "")
