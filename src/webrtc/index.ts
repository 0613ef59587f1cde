/**
 * `aiconexus/webrtc`: peer connections, data channels, links, framing, and the WebRTC stacks of Node (node-datachannel, werift, auto, mock; the browser's is in `aiconexus/browser`).
 * Each module of the room, as a namespace named after it.
 *
 * @since 0.1.0
 */
export * as FramedChannel from "./framing/FramedChannel.ts"
export * as Framing from "./framing/Framing.ts"
export * as ConnectErrors from "./link/ConnectErrors.ts"
export * as Connector from "./link/Connector.ts"
export * as EnvelopeChannel from "./link/EnvelopeChannel.ts"
export * as Link from "./link/Link.ts"
export * as LinkChannel from "./link/LinkChannel.ts"
export * as LinkRecovery from "./link/LinkRecovery.ts"
export * as RecoveryEvents from "./link/RecoveryEvents.ts"
export * as CandidatePolicy from "./peer/CandidatePolicy.ts"
export * as DataChannel from "./peer/DataChannel.ts"
export * as PeerConnection from "./peer/PeerConnection.ts"
export * as PeerMetrics from "./peer/PeerMetrics.ts"
export * as PeerStates from "./peer/PeerStates.ts"
export * as Transport from "./peer/Transport.ts"
export * as MockTransport from "./stacks/MockTransport.ts"
export * as NodeAutoTransport from "./stacks/NodeAutoTransport.ts"
export * as NodeDataChannelTransport from "./stacks/NodeDataChannelTransport.ts"
export * as NodeWeriftTransport from "./stacks/NodeWeriftTransport.ts"
