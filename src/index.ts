/**
 * `aiconexus`: the Agent's names (`Agent`, `RequestFailed`, …) and every other room's modules, each as a namespace named after it (`Gateway`,
 * `GatewayClient`, `Identity`, `NodeDataChannelTransport`, …). The subpaths `aiconexus/agent`,
 * `/client`, `/gateway`, `/protocol` and `/webrtc` export one room each.
 *
 * @since 0.1.0
 */
export * from "./agent/index.ts"
export * from "./client/index.ts"
export * from "./gateway/index.ts"
export * from "./protocol/index.ts"
export * from "./webrtc/index.ts"
