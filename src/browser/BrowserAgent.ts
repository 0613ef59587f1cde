/**
 * An Agent in a browser tab: the browser's RTCPeerConnection (`BrowserTransport`), the browser's
 * WebSocket (through Effect's socket module) for signaling, and its identity and gateway pins in
 * IndexedDB (`BrowserStorage`), so the tab keeps its DID across reloads.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import * as Socket from "effect/socket/Socket"
import { Agent, type AgentConfig } from "../agent/Agent.ts"
import type { GatewayClient } from "../client/GatewayClient.ts"
import type { CryptoError } from "../protocol/Ed25519.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as BrowserTransport from "../webrtc/stacks/BrowserTransport.ts"
import * as BrowserIdentity from "./BrowserIdentity.ts"
import * as BrowserKnownGateways from "./BrowserKnownGateways.ts"
import { BrowserStorage, type BrowserStorageError } from "./BrowserStorage.ts"

/** How a browser agent runs: an Agent's configuration, its identity taken from IndexedDB unless given. */
export interface BrowserAgentConfig extends Omit<AgentConfig, "identity"> {
  /** An identity to use instead of the stored one. */
  readonly identity?: Identity.Identity
  /** The IndexedDB database (default `aiconexus`). */
  readonly database?: string
  /** The name the identity is stored under in that database (default `agent`). */
  readonly identityName?: string
}

/** The gateway's WebSocket URL for a page it serves (`/ws` on the page's host). */
export const gatewayUrlOf = (page: string): string => {
  const url = new URL("/ws", page)
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:"
  return url.toString()
}

/** An agent in this tab, with its gateway client and its storage. */
export const layer = (
  config: BrowserAgentConfig
): Layer.Layer<Agent | GatewayClient | BrowserStorage, BrowserStorageError | BrowserIdentity.BrowserIdentityError | CryptoError> =>
  Layer.unwrap(Effect.gen(function*() {
    const identity = config.identity ?? (yield* BrowserIdentity.loadOrCreate(config.identityName))
    return Agent.layer({ ...config, identity }).pipe(
      Layer.provide(Layer.mergeAll(BrowserTransport.layer, BrowserKnownGateways.layer, Socket.layerWebSocketConstructorGlobal))
    )
  })).pipe(Layer.provideMerge(BrowserStorage.layer(config.database)))
