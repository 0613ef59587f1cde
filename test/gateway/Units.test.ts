import { assert, describe, it } from "@effect/vitest"
import { ConfigProvider, Effect, Redacted } from "effect"
import * as Admission from "../../src/gateway/Admission.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as IceServers from "../../src/gateway/IceServers.ts"
import * as TokenBucket from "../../src/gateway/TokenBucket.ts"
import * as WebSocketServer from "../../src/gateway/WebSocketServer.ts"

describe("TokenBucket", () => {
  it("allows a burst, then refills at its rate", () => {
    const bucket = TokenBucket.make({ perSecond: 2, burst: 3 }, 0)
    assert.deepStrictEqual([0, 0, 0, 0].map(() => TokenBucket.take(bucket, 0)), [true, true, true, false])
    assert.isFalse(TokenBucket.take(bucket, 400))
    assert.isTrue(TokenBucket.take(bucket, 500))
    assert.isFalse(TokenBucket.take(bucket, 500))
    // Never more than the burst, however long it rested.
    const rested = [0, 0, 0, 0].map(() => TokenBucket.take(bucket, 1_000_000))
    assert.deepStrictEqual(rested, [true, true, true, false])
  })

  it("keyed buckets fail closed when every slot is in use, and forget full buckets first", () => {
    const keyed = TokenBucket.keyed({ perSecond: 1, burst: 1 }, 2)
    assert.isTrue(keyed.take("a", 0))
    assert.isTrue(keyed.take("b", 0))
    assert.isFalse(keyed.take("c", 0))
    // After a second both refilled: they are forgotten to make room.
    assert.isTrue(keyed.take("c", 1000))
    assert.strictEqual(keyed.size(), 1)
  })

  it("keyed buckets follow the keys in use: refilled ones are swept long before the capacity", () => {
    // A registration churn: every second 2,000 new DIDs, each seen once.
    const keyed = TokenBucket.keyed({ perSecond: 1, burst: 5 }, 100_000)
    let largest = 0
    for (let second = 0; second < 30; second++) {
      for (let i = 0; i < 2000; i++) keyed.take(`did-${second}-${i}`, second * 1000)
      largest = Math.max(largest, keyed.size())
    }
    // Buckets refill in one second: the map holds about the last few seconds' keys, not 60,000.
    assert.isBelow(largest, 10_000)
  })
})

describe("Admission", () => {
  const trusted = new Set(["10.0.0.1", "10.0.0.2"])
  it("takes the socket's address unless the peer is a trusted proxy", () => {
    assert.strictEqual(Admission.clientIp("::ffff:203.0.113.5", "198.51.100.1", trusted), "203.0.113.5")
    assert.strictEqual(Admission.clientIp("10.0.0.1", "198.51.100.1", trusted), "198.51.100.1")
    assert.strictEqual(Admission.clientIp("10.0.0.1", undefined, trusted), "10.0.0.1")
  })

  it("walks X-Forwarded-For from the right past trusted proxies only", () => {
    assert.strictEqual(Admission.clientIp("10.0.0.1", "1.1.1.1, 198.51.100.7, 10.0.0.2", trusted), "198.51.100.7")
    // A client cannot hide behind a forged left-most entry.
    assert.strictEqual(Admission.clientIp("10.0.0.1", "10.0.0.2, 198.51.100.7", trusted), "198.51.100.7")
  })

  it("counts connections per IP and sessions in all", () => {
    const admission = Admission.make(GatewayConfig.make({ maxSessions: 3, maxConnectionsPerIp: 2 }))
    assert.strictEqual(admission.admit("a", 0), "admitted")
    assert.strictEqual(admission.admit("a", 0), "admitted")
    assert.strictEqual(admission.admit("a", 0), 429)
    assert.strictEqual(admission.admit("b", 0), "admitted")
    assert.strictEqual(admission.admit("c", 0), 503)
    admission.release("a")
    assert.strictEqual(admission.sessions(), 2)
    assert.strictEqual(admission.admit("c", 0), "admitted")
  })

  it("an address on probation after an abuse close pays a token per new session; others are not affected", () => {
    const admission = Admission.make(GatewayConfig.make({ abuseClosesPerIp: { perSecond: 1, burst: 2 } }))
    // Without an abuse close, sessions cost the abuse bucket nothing.
    for (let i = 0; i < 5; i++) assert.strictEqual(admission.admit("a", 0), "admitted")
    admission.penalize("a", 0)
    // One token left: one more session, then 429 until the bucket refills.
    assert.strictEqual(admission.admit("a", 0), "admitted")
    assert.strictEqual(admission.admit("a", 0), 429)
    assert.strictEqual(admission.admit("a", 999), 429)
    assert.strictEqual(admission.admit("a", 1000), "admitted")
    assert.strictEqual(admission.admit("b", 0), "admitted")
    assert.isTrue(Admission.isAbuseClose(4000) && Admission.isAbuseClose(4003) && Admission.isAbuseClose(1009))
    assert.isFalse(Admission.isAbuseClose(1000) || Admission.isAbuseClose(4001) || Admission.isAbuseClose(4004))
  })
})

describe("IceServers", () => {
  const did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
  it("mints TURN REST credentials: username '<expiry>:<did>', credential base64(HMAC-SHA1(secret, username))", () => {
    const config = GatewayConfig.make({
      stunUrls: ["stun:127.0.0.1:3478"],
      turnUrls: ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
      turnSecret: Redacted.make("north-pole-secret"),
      turnCredentialTtlSeconds: 3600
    })
    const servers = IceServers.forAgent(config, did, Date.parse("2026-01-01T00:00:00.000Z"))
    assert.deepStrictEqual(servers, [
      { urls: ["stun:127.0.0.1:3478"] },
      {
        urls: ["turn:127.0.0.1:3478?transport=udp", "turn:127.0.0.1:3478?transport=tcp"],
        username: `1767229200:${did}`,
        // Computed independently (Python hmac) for this secret and username.
        credential: "S6aEQzS1wsjsH47tmZYA8eFtB3E="
      }
    ])
  })

  it("hands out no servers unless configured, and TURN without credentials when no secret is set", () => {
    assert.deepStrictEqual(IceServers.forAgent(GatewayConfig.make(), did, 0), [])
    assert.deepStrictEqual(IceServers.forAgent(GatewayConfig.make({ turnUrls: ["turn:x"] }), did, 0), [{ urls: ["turn:x"] }])
  })
})

describe("GatewayConfig.fromEnv", () => {
  it.effect("reads AICONEXUS_* variables over the defaults", () =>
    Effect.gen(function*() {
      const env = {
        AICONEXUS_PORT: "9999",
        AICONEXUS_PUBLIC_URLS: "wss://a.example/ws,wss://b.example/ws",
        AICONEXUS_SESSION_RATE_PER_SECOND: "7",
        AICONEXUS_TURN_SECRET: "s3cret",
        AICONEXUS_VERIFY_RELAY_SIGNATURES: "false",
        AICONEXUS_AGENTS_ENDPOINT: "on"
      }
      const config = yield* GatewayConfig.fromEnv.parse(ConfigProvider.fromEnv({ env }))
      assert.strictEqual(config.port, 9999)
      assert.deepStrictEqual(config.publicUrls, ["wss://a.example/ws", "wss://b.example/ws"])
      assert.deepStrictEqual(config.sessionRate, { perSecond: 7, burst: GatewayConfig.defaults.sessionRate.burst })
      assert.strictEqual(Redacted.value(config.turnSecret!), "s3cret")
      assert.strictEqual(String(config.turnSecret), "<redacted>")
      assert.isFalse(config.verifyRelaySignatures)
      assert.strictEqual(config.agentsEndpoint, "on")
      assert.strictEqual(config.host, "127.0.0.1")
      const bad = yield* Effect.flip(GatewayConfig.fromEnv.parse(ConfigProvider.fromEnv({ env: { AICONEXUS_PORT: "eighty" } })))
      assert.include(String(bad), "AICONEXUS_PORT")
    }))
})

describe("the watchdog's periods", () => {
  it("sweeps handshakes every tenth of the shorter timeout and registered sessions every tenth of the session timeout, at most every 5 s", () => {
    const at = (overrides: Partial<GatewayConfig.GatewayConfig>) => {
      const config = GatewayConfig.make(overrides)
      return { fast: WebSocketServer.sweepPeriodMs(config), registered: WebSocketServer.sweepPeriodMs(config) * WebSocketServer.registeredSweepEvery(config) }
    }
    // Defaults: 5 s handshake, 60 s session.
    assert.deepStrictEqual(at({}), { fast: 500, registered: 5000 })
    assert.deepStrictEqual(at({ sessionTimeoutMs: 20_000, heartbeatIntervalMs: 5_000 }), { fast: 500, registered: 2000 })
    // A session timeout shorter than the handshake's: both every tenth of it.
    assert.deepStrictEqual(at({ sessionTimeoutMs: 3_000, heartbeatIntervalMs: 1_000 }), { fast: 300, registered: 300 })
    assert.deepStrictEqual(at({ handshakeTimeoutMs: 60_000, sessionTimeoutMs: 600_000 }), { fast: 1000, registered: 5000 })
  })
})
