/**
 * Gateway configuration: every limit and setting, with defaults, read from the environment.
 *
 * `GatewayConfig.make(overrides)` builds one in code (tests, embedding); `GatewayConfig.fromEnv`
 * reads the `AICONEXUS_*` variables documented in the README.
 *
 * @since 0.1.0
 */
import { Config, Context, Redacted, Schema } from "effect"
import * as Heartbeat from "../protocol/Heartbeat.ts"
import * as NodeDataHome from "../protocol/NodeDataHome.ts"
import type { Rate } from "./TokenBucket.ts"

/** Everything a gateway node is configured with. */
export interface GatewayConfig {
  readonly host: string
  readonly port: number
  /** Where the gateway keeps its identity (created on first start); by default `gateway` in the user's data folder (`NodeDataHome`). */
  readonly dataDir: string
  /** The identity file; defaults to `<dataDir>/gateway-identity.json`. Nodes of a cluster share one. */
  readonly keyFile: string | undefined
  /** The ws:// or wss:// URLs agents dial; when set, REGISTER's `endpoint` must be one of them. */
  readonly publicUrls: ReadonlyArray<string>
  readonly stunUrls: ReadonlyArray<string>
  readonly turnUrls: ReadonlyArray<string>
  /** Shared secret of the TURN REST convention; without it TURN URLs are handed out without credentials. */
  readonly turnSecret: Redacted.Redacted<string> | undefined
  readonly turnCredentialTtlSeconds: number
  readonly handshakeTimeoutMs: number
  readonly heartbeatIntervalMs: number
  readonly sessionTimeoutMs: number
  /** Largest frame before registration (PROTOCOL.md 4.2: 16 KiB). */
  readonly maxHandshakeFrameBytes: number
  /** Largest frame after registration (`max_message_bytes`); larger frames close the socket with 1009. */
  readonly maxMessageBytes: number
  readonly skewMs: number
  readonly maxSessions: number
  readonly sessionRate: Rate
  readonly destinationRate: Rate
  readonly discoverRate: Rate
  /** Signed PINGs per session (clients before the heartbeat frame send one per interval). */
  readonly pingRate: Rate
  /** Open WebSocket sessions (and upgrades in progress) from one client IP. */
  readonly maxConnectionsPerIp: number
  /** Open TCP connections from one address before any HTTP work (trusted proxies are exempt); more are dropped at once. */
  readonly maxTcpConnectionsPerIp: number
  /** A connection must finish its request headers (and not sit idle before its upgrade) within this. */
  readonly headerTimeoutMs: number
  /** New connections (handshakes) from one client IP. */
  readonly handshakeRatePerIp: Rate
  /**
   * Sessions of one client IP the gateway may close for abuse (4000, 4003, 1009, or dropped for
   * not reading); past it, upgrades from that IP get 429 until the bucket refills (`Admission`).
   */
  readonly abuseClosesPerIp: Rate
  /** Peers whose X-Forwarded-For header is believed. */
  readonly trustedProxies: ReadonlyArray<string>
  /** Rejected frames a session may send before it is closed with 4000. */
  readonly maxRejectedFrames: number
  /** Bytes of frames refused as unreadable (not I-JSON, not an envelope) a session may send before it is closed with 4000. */
  readonly maxRejectedBytes: number
  /** Rate-limited frames a session may send before it is closed with 4003. */
  readonly maxRateLimitStrikes: number
  /** Verify signatures of relayed frames (PROTOCOL.md 4.3 step 10: SHOULD). */
  readonly verifyRelaySignatures: boolean
  /**
   * Worker threads that verify relayed frames' signatures (`VerifyPool`), so relaying uses more
   * than one core; 0 verifies on the main thread. Unset: one per core (`os.availableParallelism()`),
   * none on a single core.
   */
  readonly verifyWorkers: number | undefined
  /**
   * When relayed frames' checks go to those threads: "busy" (the default) once the main thread is
   * busy (a check on a thread costs more CPU in all than one in place), "always" every one.
   */
  readonly verifyOffload: "busy" | "always"
  /** Serve `/agents`: "auto" (only when bound to loopback), "on" or "off". */
  readonly agentsEndpoint: "auto" | "on" | "off"
  /** Bytes queued towards one agent beyond which frames for it are refused (a receiver that does not read). */
  readonly maxOutboundBufferBytes: number
  /** Replay records one session keeps (its envelopes of the last skew window); when full it gets RATE_LIMITED. */
  readonly maxReplayRecords: number
  /** A Redis URL (`redis://` or `rediss://`, credentials allowed): nodes sharing it form one cluster. Unset: in-memory. */
  readonly redisUrl: Redacted.Redacted<string> | undefined
  /** A PEM file of the CA that signed the Redis server's TLS certificate (for `rediss://` with a private CA). */
  readonly redisTlsCaFile: string | undefined
  /** A folder with the browser page (`index.html`, `page.js`) to serve at `/` (`aiconexus gateway --web`). */
  readonly webDir?: string | undefined
  /** Prefix of every Redis key and channel, so several clusters can share one Redis. */
  readonly redisKeyPrefix: string
  /** This node's name in the cluster; a random one per start when unset. */
  readonly nodeId: string | undefined
}

/** The defaults: PROTOCOL.md's numbers, and limits sized for tens of thousands of agents per node. */
export const defaults: GatewayConfig = {
  host: "127.0.0.1",
  port: 8787,
  dataDir: NodeDataHome.gatewayDataDir(),
  keyFile: undefined,
  publicUrls: [],
  stunUrls: [],
  turnUrls: [],
  turnSecret: undefined,
  turnCredentialTtlSeconds: 3600,
  handshakeTimeoutMs: 5_000,
  heartbeatIntervalMs: Heartbeat.DEFAULT_INTERVAL_MS,
  sessionTimeoutMs: Heartbeat.DEFAULT_SESSION_TIMEOUT_MS,
  maxHandshakeFrameBytes: 16 * 1024,
  maxMessageBytes: 64 * 1024,
  skewMs: 60_000,
  maxSessions: 50_000,
  sessionRate: { perSecond: 50, burst: 200 },
  destinationRate: { perSecond: 100, burst: 400 },
  discoverRate: { perSecond: 1, burst: 5 },
  pingRate: { perSecond: 1, burst: 5 },
  maxConnectionsPerIp: 256,
  maxTcpConnectionsPerIp: 300,
  headerTimeoutMs: 5_000,
  handshakeRatePerIp: { perSecond: 20, burst: 100 },
  abuseClosesPerIp: { perSecond: 1, burst: 10 },
  trustedProxies: [],
  maxRejectedFrames: 20,
  maxRejectedBytes: 64 * 1024,
  maxRateLimitStrikes: 50,
  verifyRelaySignatures: true,
  verifyWorkers: undefined,
  verifyOffload: "busy",
  agentsEndpoint: "auto",
  maxOutboundBufferBytes: 1024 * 1024,
  maxReplayRecords: 8192,
  redisUrl: undefined,
  redisTlsCaFile: undefined,
  redisKeyPrefix: "aiconexus",
  nodeId: undefined
}

/** A configuration: the defaults with some settings replaced. */
export const make = (overrides: Partial<GatewayConfig> = {}): GatewayConfig => ({ ...defaults, ...overrides })

/** The gateway configuration in use. */
export class GatewayConfigService extends Context.Service<GatewayConfigService, GatewayConfig>()(
  "aiconexus/gateway/GatewayConfig"
) {}

const list = (name: string) => Config.Array(Schema.String, name).pipe(Config.withDefault([] as ReadonlyArray<string>))
const int = (name: string, fallback: number) => Config.Int(name).pipe(Config.withDefault(fallback))
const rate = (name: string, fallback: Rate) =>
  Config.all({ perSecond: int(`${name}_PER_SECOND`, fallback.perSecond), burst: int(`${name}_BURST`, fallback.burst) })

/** The configuration from `AICONEXUS_*` environment variables (see the README for the list). */
export const fromEnv: Config.Config<GatewayConfig> = Config.all({
  host: Config.String("AICONEXUS_HOST").pipe(Config.withDefault(defaults.host)),
  port: int("AICONEXUS_PORT", defaults.port),
  dataDir: Config.String("AICONEXUS_DATA_DIR").pipe(Config.withDefault(defaults.dataDir)),
  keyFile: Config.String("AICONEXUS_KEY_FILE").pipe(Config.withDefault(undefined as string | undefined)),
  publicUrls: list("AICONEXUS_PUBLIC_URLS"),
  stunUrls: list("AICONEXUS_STUN_URLS"),
  turnUrls: list("AICONEXUS_TURN_URLS"),
  turnSecret: Config.Redacted("AICONEXUS_TURN_SECRET").pipe(Config.withDefault(undefined as Redacted.Redacted<string> | undefined)),
  turnCredentialTtlSeconds: int("AICONEXUS_TURN_TTL_SECONDS", defaults.turnCredentialTtlSeconds),
  handshakeTimeoutMs: int("AICONEXUS_HANDSHAKE_TIMEOUT_MS", defaults.handshakeTimeoutMs),
  heartbeatIntervalMs: int("AICONEXUS_HEARTBEAT_INTERVAL_MS", defaults.heartbeatIntervalMs),
  sessionTimeoutMs: int("AICONEXUS_SESSION_TIMEOUT_MS", defaults.sessionTimeoutMs),
  maxHandshakeFrameBytes: int("AICONEXUS_MAX_HANDSHAKE_FRAME_BYTES", defaults.maxHandshakeFrameBytes),
  maxMessageBytes: int("AICONEXUS_MAX_MESSAGE_BYTES", defaults.maxMessageBytes),
  skewMs: int("AICONEXUS_SKEW_MS", defaults.skewMs),
  maxSessions: int("AICONEXUS_MAX_SESSIONS", defaults.maxSessions),
  sessionRate: rate("AICONEXUS_SESSION_RATE", defaults.sessionRate),
  destinationRate: rate("AICONEXUS_DESTINATION_RATE", defaults.destinationRate),
  discoverRate: rate("AICONEXUS_DISCOVER_RATE", defaults.discoverRate),
  pingRate: rate("AICONEXUS_PING_RATE", defaults.pingRate),
  maxConnectionsPerIp: int("AICONEXUS_MAX_CONNECTIONS_PER_IP", defaults.maxConnectionsPerIp),
  maxTcpConnectionsPerIp: int("AICONEXUS_MAX_TCP_CONNECTIONS_PER_IP", defaults.maxTcpConnectionsPerIp),
  headerTimeoutMs: int("AICONEXUS_HEADER_TIMEOUT_MS", defaults.headerTimeoutMs),
  handshakeRatePerIp: rate("AICONEXUS_HANDSHAKE_RATE_PER_IP", defaults.handshakeRatePerIp),
  abuseClosesPerIp: rate("AICONEXUS_ABUSE_CLOSES_PER_IP", defaults.abuseClosesPerIp),
  trustedProxies: list("AICONEXUS_TRUSTED_PROXIES"),
  maxRejectedFrames: int("AICONEXUS_MAX_REJECTED_FRAMES", defaults.maxRejectedFrames),
  maxRejectedBytes: int("AICONEXUS_MAX_REJECTED_BYTES", defaults.maxRejectedBytes),
  maxRateLimitStrikes: int("AICONEXUS_MAX_RATE_LIMIT_STRIKES", defaults.maxRateLimitStrikes),
  verifyRelaySignatures: Config.Boolean("AICONEXUS_VERIFY_RELAY_SIGNATURES").pipe(Config.withDefault(defaults.verifyRelaySignatures)),
  verifyWorkers: Config.Int("AICONEXUS_VERIFY_WORKERS").pipe(Config.withDefault(undefined as number | undefined)),
  verifyOffload: Config.Literals(["busy", "always"], "AICONEXUS_VERIFY_OFFLOAD").pipe(Config.withDefault(defaults.verifyOffload)),
  agentsEndpoint: Config.Literals(["auto", "on", "off"], "AICONEXUS_AGENTS_ENDPOINT").pipe(Config.withDefault(defaults.agentsEndpoint)),
  maxOutboundBufferBytes: int("AICONEXUS_MAX_OUTBOUND_BUFFER_BYTES", defaults.maxOutboundBufferBytes),
  maxReplayRecords: int("AICONEXUS_MAX_REPLAY_RECORDS", defaults.maxReplayRecords),
  redisUrl: Config.Redacted("AICONEXUS_REDIS_URL").pipe(Config.withDefault(undefined as Redacted.Redacted<string> | undefined)),
  redisTlsCaFile: Config.String("AICONEXUS_REDIS_TLS_CA_FILE").pipe(Config.withDefault(undefined as string | undefined)),
  redisKeyPrefix: Config.String("AICONEXUS_REDIS_PREFIX").pipe(Config.withDefault(defaults.redisKeyPrefix)),
  nodeId: Config.String("AICONEXUS_NODE_ID").pipe(Config.withDefault(undefined as string | undefined))
})
