/**
 * `aiconexus/client`: the agent side of the gateway protocol (browser-safe).
 * Each module of the room, as a namespace named after it.
 *
 * @since 0.1.0
 */
export * as GatewayClient from "./GatewayClient.ts"
export * as KnownGateways from "./KnownGateways.ts"
export * as Signaling from "./Signaling.ts"
export * as NodeWebSocket from "./NodeWebSocket.ts"
