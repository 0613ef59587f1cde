/**
 * `aiconexus/protocol`: IoAP v1: DIDs, Ed25519, I-JSON, envelopes and their acceptance checks, identity files (browser-safe).
 * Each module of the room, as a namespace named after it.
 *
 * @since 0.1.0
 */
export * as Accept from "./Accept.ts"
export * as DataChannelConfig from "./DataChannelConfig.ts"
export * as Describe from "./Describe.ts"
export * as Did from "./Did.ts"
export * as Ed25519 from "./Ed25519.ts"
export * as Envelope from "./Envelope.ts"
export * as Heartbeat from "./Heartbeat.ts"
export * as ErrorCode from "./ErrorCode.ts"
export * as IceCandidate from "./IceCandidate.ts"
export * as IJson from "./IJson.ts"
export * as Identity from "./Identity.ts"
export * as IdentityFile from "./IdentityFile.ts"
export * as NodeEd25519 from "./NodeEd25519.ts"
export * as ReplayGuard from "./ReplayGuard.ts"
export * as Sdp from "./Sdp.ts"
export * as SdpSyntax from "./SdpSyntax.ts"
export * as Utf8 from "./Utf8.ts"
