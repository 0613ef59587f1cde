/**
 * `aiconexus/browser`: the agent for browser tabs. Everything here runs on web-standard APIs only.
 *
 *     import { BrowserAgent, Agent } from "aiconexus/browser"
 *     const agent = Layer.build(BrowserAgent.layer({ urls: ["wss://gateway.example/ws"], serve: [...] }))
 *
 * @since 0.1.0
 */
export * as BrowserAgent from "./BrowserAgent.ts"
export * as BrowserIdentity from "./BrowserIdentity.ts"
export * as BrowserKnownGateways from "./BrowserKnownGateways.ts"
export { BrowserStorage, BrowserStorageError } from "./BrowserStorage.ts"
export * as BrowserTransport from "../webrtc/stacks/BrowserTransport.ts"
export { Agent, type AgentConfig, type PeerSession, RequestFailed, type Served } from "../agent/Agent.ts"
export { GatewayClient } from "../client/GatewayClient.ts"
export { KnownGateways } from "../client/KnownGateways.ts"
export * as Identity from "../protocol/Identity.ts"
export * as CandidatePolicy from "../webrtc/peer/CandidatePolicy.ts"
export * as FramedChannel from "../webrtc/framing/FramedChannel.ts"
export type { PeerLink } from "../webrtc/link/Connector.ts"
