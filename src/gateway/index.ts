/**
 * `aiconexus/gateway`: the signaling gateway (Node.js): in-memory or a cluster node on Redis.
 * Each module of the room, as a namespace named after it.
 *
 * @since 0.1.0
 */
export * as Admission from "./Admission.ts"
export * as AgentRegistry from "./AgentRegistry.ts"
export * as Gateway from "./Gateway.ts"
export * as GatewayConfig from "./GatewayConfig.ts"
export * as GatewayMetrics from "./GatewayMetrics.ts"
export * as IceServers from "./IceServers.ts"
export * as RedisCluster from "./RedisCluster.ts"
export * as RedisConnection from "./RedisConnection.ts"
export * as RedisDirectory from "./RedisDirectory.ts"
export * as Router from "./Router.ts"
export * as Session from "./Session.ts"
export * as TokenBucket from "./TokenBucket.ts"
export * as VerifyPool from "./VerifyPool.ts"
export * as WebSocketServer from "./WebSocketServer.ts"
