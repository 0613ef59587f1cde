/**
 * The ICE servers a gateway hands to each agent in REGISTERED.
 *
 * TURN credentials follow the TURN REST convention (as coturn's `use-auth-secret` expects):
 * username `"<unix-expiry>:<did>"`, credential base64(HMAC-SHA1(shared secret, username)),
 * minted per agent and short-lived.
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { Redacted } from "effect"
import type { IceServer } from "../protocol/Envelope.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"

/** The TURN REST credential for a username. */
export const turnCredential = (secret: Redacted.Redacted<string>, username: string): string =>
  NodeCrypto.createHmac("sha1", Redacted.value(secret)).update(username).digest("base64")

/** The ICE servers for one agent at time `nowMs`. */
export const forAgent = (config: GatewayConfig, did: string, nowMs: number): Array<IceServer> => {
  const servers: Array<IceServer> = []
  if (config.stunUrls.length > 0) servers.push({ urls: [...config.stunUrls] })
  if (config.turnUrls.length > 0) {
    if (config.turnSecret === undefined) {
      servers.push({ urls: [...config.turnUrls] })
    } else {
      const username = `${Math.floor(nowMs / 1000) + config.turnCredentialTtlSeconds}:${did}`
      servers.push({ urls: [...config.turnUrls], username, credential: turnCredential(config.turnSecret, username) })
    }
  }
  return servers
}
