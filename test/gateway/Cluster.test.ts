/**
 * Two gateway nodes in this process on one real `redis-server`: agents on different nodes reach
 * each other, the directory is the cluster's, the newest registration wins cluster-wide, and a
 * Redis outage degrades a node without breaking its own agents.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as RedisCluster from "../../src/gateway/RedisCluster.ts"
import type * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { eventually, testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"
import * as RedisServer from "./redisServer.ts"
import { agentOnGateway, connectPair, exchange, realTransports } from "../webrtc/fixtures.ts"

/** One gateway node of the cluster on `redis`; all nodes share one key file, so one DID. */
const node = (redis: RedisServer.RedisServer, keyFile: string, overrides: Partial<GatewayConfig.GatewayConfig> = {}) =>
  Effect.map(
    Layer.build(Gateway.layerRedis(testConfig({ keyFile, redisTlsCaFile: redis.caFile, ...overrides }), redis.url)),
    Context.get(Gateway.Gateway)
  )

const cluster = (options: RedisServer.RedisServerOptions = {}, overrides: Partial<GatewayConfig.GatewayConfig> = {}) =>
  Effect.gen(function*() {
    const redis = yield* RedisServer.start(options)
    const keyFile = join(mkdtempSync(join(tmpdir(), "aiconexus-cluster-")), "gateway-identity.json")
    const a = yield* node(redis, keyFile, overrides)
    const b = yield* node(redis, keyFile, overrides)
    return { redis, a, b }
  })

/** A raw client registered at `gateway` as `identity`. */
const agentAt = (gateway: Context.Service.Shape<typeof Gateway.Gateway>, identity: Identity.Identity, payload: Partial<Envelope.Payload<"REGISTER">> = {}) =>
  Effect.gen(function*() {
    const client = yield* RawClient.connect(gateway.url)
    const { answer } = yield* RawClient.register(client, identity, gateway.did, gateway.url, payload)
    assert.strictEqual(answer.type, "REGISTERED")
    return client
  })

const offer = (from: Identity.Identity, to: Identity.Identity) =>
  Effect.map(
    Envelope.make(from, { type: "BYE", to: to.did, payload: { connection_id: crypto.randomUUID(), reason: "hello across nodes" } }),
    Envelope.encode
  )

/** Alice registered at `a`, Bob at `b`. */
const pairAcross = (a: Context.Service.Shape<typeof Gateway.Gateway>, b: Context.Service.Shape<typeof Gateway.Gateway>) =>
  Effect.gen(function*() {
    const alice = yield* Identity.generate
    const bob = yield* Identity.generate
    return { alice, bob, atA: yield* agentAt(a, alice), atB: yield* agentAt(b, bob) }
  })

/** `from` sends a frame to `to`'s identity; it must arrive at `receiver` exactly as sent. */
const relays = (from: Identity.Identity, sender: RawClient.RawClient, to: Identity.Identity, receiver: RawClient.RawClient) =>
  Effect.gen(function*() {
    const frame = yield* offer(from, to)
    yield* sender.send(frame)
    assert.strictEqual(yield* receiver.next(), frame)
  })

const health = (gateway: Context.Service.Shape<typeof Gateway.Gateway>) =>
  Effect.promise(() => fetch(`${gateway.httpUrl}/health`).then((response) => response.json() as Promise<{ status: string; agents: number }>))

const metrics = (gateway: Context.Service.Shape<typeof Gateway.Gateway>) =>
  Effect.promise(() => fetch(`${gateway.httpUrl}/metrics`).then((response) => response.text()))

describe("gateway cluster on Redis", () => {
  it.live("relays between agents on different nodes byte for byte, both ways", () =>
    Effect.gen(function*() {
      const { a, b } = yield* cluster()
      assert.strictEqual(a.did, b.did)
      const { alice, atA, atB, bob } = yield* pairAcross(a, b)
      yield* relays(alice, atA, bob, atB)
      yield* relays(bob, atB, alice, atA)
    }).pipe(Effect.scoped))

  it.live("DISCOVER and /agents list the whole cluster, and a cursor from one node resumes on the other", () =>
    Effect.gen(function*() {
      const { a, b } = yield* cluster()
      const identities = yield* Effect.all([Identity.generate, Identity.generate, Identity.generate, Identity.generate])
      const capabilities = [{ id: "summarize", tags: ["text"] }]
      const [asker, ...listed] = identities
      yield* agentAt(a, listed[0]!, { capabilities })
      yield* agentAt(b, listed[1]!, { capabilities })
      yield* agentAt(b, listed[2]!, { capabilities: [{ id: "translate" }] })
      yield* agentAt(a, (yield* Identity.generate), { capabilities, unlisted: true })
      const client = yield* agentAt(a, asker!)
      const discover = (gateway: typeof a, payload: Envelope.Payload<"DISCOVER">) => RawClient.discover(client, asker!, gateway.did, payload)
      const everyone = yield* discover(a, {})
      assert.deepStrictEqual(everyone.agents.map((agent) => agent.did), listed.map((i) => i.did).sort())
      const summarizers = yield* discover(a, { capability: "summarize", tag: "text" })
      assert.deepStrictEqual(summarizers.agents.map((agent) => agent.did), [listed[0]!.did, listed[1]!.did].sort())

      // Page one at a time: the cursor handed out by node A works at node B (asked through A's session, then B's /agents).
      const first = yield* discover(a, { limit: 1 })
      assert.strictEqual(first.agents.length, 1)
      const rest = yield* Effect.promise(() =>
        fetch(`${b.httpUrl}/agents?limit=10&cursor=${encodeURIComponent(first.next_cursor!)}`).then((r) => r.json() as Promise<{ agents: Array<{ did: string }> }>)
      )
      const firstDid = listed.map((i) => i.did).sort()[0]!
      assert.strictEqual(first.agents[0]!.did, firstDid)
      // `/agents` has no caller to leave out: the asker is listed there.
      assert.deepStrictEqual(rest.agents.map((agent) => agent.did), [asker!, ...listed].map((i) => i.did).filter((did) => did > firstDid).sort())
      const healthB = yield* health(b)
      assert.deepStrictEqual(healthB, { ...healthB, status: "ok", agents: 5 })
    }).pipe(Effect.scoped))

  it.live("the newest registration of a DID wins across nodes: the older session gets SESSION_REPLACED and 4001", () =>
    Effect.gen(function*() {
      const { a, b } = yield* cluster()
      const alice = yield* Identity.generate
      const bob = yield* Identity.generate
      const first = yield* agentAt(a, alice)
      const second = yield* agentAt(b, alice)
      const replaced = yield* first.nextOfType("ERROR")
      assert.strictEqual(replaced.payload.code, "SESSION_REPLACED")
      assert.strictEqual((yield* first.closed).code, 4001)
      // Frames for alice now reach the newer session, from either node.
      yield* relays(bob, yield* agentAt(a, bob), alice, second)
      // The older session's goodbye did not take the newer one out of the directory.
      assert.strictEqual((yield* health(a)).agents, 2)
    }).pipe(Effect.scoped))

  it.live("UNKNOWN_AGENT when nobody has the DID, and when its entry names a node that no longer listens", () =>
    Effect.gen(function*() {
      const { a, redis } = yield* cluster()
      const alice = yield* Identity.generate
      const ghost = yield* Identity.generate
      const atA = yield* agentAt(a, alice)
      const expectUnknown = Effect.gen(function*() {
        const frame = yield* Envelope.make(alice, { type: "BYE", to: ghost.did, payload: { connection_id: crypto.randomUUID() } })
        yield* atA.send(Envelope.encode(frame))
        const error = yield* atA.nextOfType("ERROR")
        assert.strictEqual(error.payload.code, "UNKNOWN_AGENT")
        assert.strictEqual(error.correlation_id, frame.id)
      })
      yield* expectUnknown
      // An entry left by a node that died before it expired: the PUBLISH reaches no subscriber.
      const client = yield* RedisServer.client(redis)
      yield* Effect.promise(() =>
        client.hSet(`{aiconexus}:agent:${ghost.did}`, {
          epoch: "1",
          node: "a-node-that-died",
          session: crypto.randomUUID(),
          entry: JSON.stringify({ capabilities: [], unlisted: false, connectedAt: "2026-11-27T00:00:00.000Z" })
        })
      )
      yield* expectUnknown
    }).pipe(Effect.scoped))

  it.live("Redis down: both nodes report degraded and still relay between their own agents; Redis back: routing and the directory recover", () =>
    Effect.gen(function*() {
      const { a, b, redis } = yield* cluster({}, { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 1_000 })
      const alice = yield* Identity.generate
      const bob = yield* Identity.generate
      const carol = yield* Identity.generate
      const aliceAtA = yield* agentAt(a, alice)
      const bobAtA = yield* agentAt(a, bob)
      const carolAtB = yield* agentAt(b, carol)

      yield* redis.kill
      // Whoever notices first: a relay to a remote agent, or the next refresh.
      const toCarol = yield* offer(alice, carol)
      yield* aliceAtA.send(toCarol)
      yield* eventually(health(a), (h) => h.status === "degraded")
      yield* eventually(health(b), (h) => h.status === "degraded")
      const local = yield* offer(alice, bob)
      yield* aliceAtA.send(local)
      assert.deepStrictEqual(yield* bobAtA.nextOfType("BYE"), JSON.parse(local))

      const degradedMetrics = yield* metrics(a)
      assert.match(degradedMetrics, /^aiconexus_gateway_cluster_degraded(\{[^}]*\})? 1$/m)
      assert.match(degradedMetrics, /^aiconexus_gateway_cluster_errors_total\{[^}]*operation="\w+"[^}]*\} [1-9]/m)

      yield* redis.restart
      yield* eventually(health(a), (h) => h.status === "ok" && h.agents === 3)
      assert.match(yield* metrics(a), /^aiconexus_gateway_cluster_degraded(\{[^}]*\})? 0$/m)
      yield* eventually(health(b), (h) => h.status === "ok" && h.agents === 3)
      const across = yield* offer(alice, carol)
      yield* aliceAtA.send(across)
      assert.deepStrictEqual(yield* carolAtB.nextOfType("BYE"), JSON.parse(across))
      const back = yield* offer(carol, bob)
      yield* carolAtB.send(back)
      assert.deepStrictEqual(yield* bobAtA.nextOfType("BYE"), JSON.parse(back))
    }).pipe(Effect.scoped))

  it.live("Redis restarted empty while no command failed: each node re-publishes its agents as soon as its connection is back, not at its next refresh", () =>
    Effect.gen(function*() {
      // A presence refresh only every 200 s: what comes back within the test comes from the reconnection.
      const { a, b, redis } = yield* cluster({}, { sessionTimeoutMs: 600_000 })
      const { alice, atA, atB, bob } = yield* pairAcross(a, b)
      yield* relays(alice, atA, bob, atB)
      assert.strictEqual((yield* health(a)).agents, 2)
      yield* redis.kill
      yield* redis.restart
      // The directory holds both agents again (counted from Redis), and frames cross both ways.
      yield* eventually(health(a), (h) => h.status === "ok" && h.agents === 2)
      yield* eventually(health(b), (h) => h.status === "ok" && h.agents === 2)
      yield* relays(alice, atA, bob, atB)
      yield* relays(bob, atB, alice, atA)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("Redis with a password (AUTH) and over TLS with a private CA", () =>
    Effect.gen(function*() {
      for (const options of [{ password: "s3cret pass" }, { tls: true, password: "tls-pass" }]) {
        const { a, b } = yield* cluster(options)
        const { alice, atA, atB, bob } = yield* pairAcross(a, b)
        yield* relays(alice, atA, bob, atB)
      }
    }).pipe(Effect.scoped))

  it.live("a node does not start with a wrong Redis password: a typed RedisUnavailable that does not show the password", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.start({ password: "right" })
      const url = Redacted.value(redis.url).replace(":right@", ":wrong@")
      const result = yield* Layer.build(Gateway.layerRedis(testConfig(), Redacted.make(url))).pipe(Effect.flip)
      assert.strictEqual(result._tag, "RedisUnavailable")
      assert.match(result.message, /^cannot connect to the cluster's Redis at redis:\/\/127\.0\.0\.1:\d+\/?: WRONGPASS/)
      assert.notInclude(result.message, "wrong")
    }).pipe(Effect.scoped))

  it.live.each(realTransports)("%s: agents registered at different nodes connect over WebRTC through them", ([_name, transport]) =>
    Effect.gen(function*() {
      const { a, b } = yield* cluster()
      const alice = yield* agentOnGateway(a.url, transport)
      const bob = yield* agentOnGateway(b.url, transport)
      const { offerer, answerer } = yield* connectPair(alice, bob)
      assert.strictEqual(offerer.remote, bob.identity.did)
      yield* exchange(offerer, answerer)
    }).pipe(Effect.scoped), { timeout: 30_000 })

  it.live("after an outage, nodes reconcile by epoch: a registration made during it replaces the older session elsewhere", () =>
    Effect.gen(function*() {
      const { a, b, redis } = yield* cluster({}, { sessionTimeoutMs: 3_000, heartbeatIntervalMs: 1_000 })
      const alice = yield* Identity.generate
      const older = yield* agentAt(a, alice)
      yield* redis.kill
      yield* eventually(health(b), (h) => h.status === "degraded")
      // Node B cannot reach Redis: it registers alice for its own agents and waits for an epoch.
      const newer = yield* agentAt(b, alice)
      yield* redis.restart
      const replaced = yield* older.nextOfType("ERROR", 15_000)
      assert.strictEqual(replaced.payload.code, "SESSION_REPLACED")
      assert.strictEqual((yield* older.closed).code, 4001)
      yield* eventually(health(a), (h) => h.status === "ok" && h.agents === 1)
      // The newer session is the one the cluster routes to.
      const bob = yield* Identity.generate
      const bobAtA = yield* agentAt(a, bob)
      const frame = yield* offer(bob, alice)
      yield* bobAtA.send(frame)
      assert.deepStrictEqual(yield* newer.nextOfType("BYE"), JSON.parse(frame))
    }).pipe(Effect.scoped))

  it.live("junk published on a node's channel is dropped and counted; the node keeps relaying", () =>
    Effect.gen(function*() {
      const redis = yield* RedisServer.start()
      const keyFile = join(mkdtempSync(join(tmpdir(), "aiconexus-cluster-")), "gateway-identity.json")
      const a = yield* node(redis, keyFile, { nodeId: "node-under-test" })
      const b = yield* node(redis, keyFile)
      const client = yield* RedisServer.client(redis)
      const stranger = yield* Identity.generate
      for (const junk of ["no newline at all", `${stranger.did}\n{"not":"for anyone here"}`, "\n"]) {
        assert.strictEqual(yield* Effect.promise(() => client.publish("{aiconexus}:node:node-under-test", junk)), 1)
      }
      yield* eventually(metrics(a), (text) => /^aiconexus_gateway_cluster_frames_total\{[^}]*outcome="dropped"[^}]*\} 3$/m.test(text))
      const { alice, atA, atB, bob } = yield* pairAcross(a, b)
      yield* relays(alice, atA, bob, atB)
    }).pipe(Effect.scoped))

  it.live("an announcement of an older epoch (arriving late) or a malformed one replaces nobody; one of a newer epoch replaces the local session", () =>
    Effect.gen(function*() {
      const { a, b, redis } = yield* cluster()
      const client = yield* RedisServer.client(redis)
      const { alice, atA, atB, bob } = yield* pairAcross(a, b)
      const carol = yield* Identity.generate
      const carolAtA = yield* agentAt(a, carol)
      const epochOf = (did: string) => Effect.promise(() => client.hGet(`{aiconexus}:agent:${did}`, "epoch")).pipe(Effect.map(Number))
      const announce = (did: string, epoch: number) =>
        Effect.promise(() => client.publish("{aiconexus}:registrations", `${did}\n${epoch}\n${crypto.randomUUID()}`))
      yield* announce(alice.did, (yield* epochOf(alice.did)) - 1)
      yield* Effect.promise(() => client.publish("{aiconexus}:registrations", `${alice.did}\nnot a number\n${crypto.randomUUID()}`))
      // Announcements are handled in order: once carol is replaced, alice's stale one was handled too.
      yield* announce(carol.did, (yield* epochOf(carol.did)) + 1)
      assert.strictEqual((yield* carolAtA.nextOfType("ERROR")).payload.code, "SESSION_REPLACED")
      yield* relays(bob, atB, alice, atA)
      yield* announce(alice.did, (yield* epochOf(alice.did)) + 1)
      assert.strictEqual((yield* atA.nextOfType("ERROR")).payload.code, "SESSION_REPLACED")
      assert.strictEqual((yield* atA.closed).code, 4001)
    }).pipe(Effect.scoped))

  it.live("one DISCOVER reads a bounded part of a large directory and hands out a cursor to go on", () =>
    Effect.gen(function*() {
      const { a, redis } = yield* cluster()
      const client = yield* RedisServer.client(redis)
      // Entries that sort before every real DID and match nothing asked for below.
      const filler = RedisCluster.MAX_SCANNED_PER_DISCOVER + 100
      const batch = client.multi()
      for (let i = 0; i < filler; i++) batch.zAdd("{aiconexus}:directory", { score: 0, value: `did:key:z0${String(i).padStart(6, "0")}` })
      yield* Effect.promise(() => batch.exec())
      const rare = yield* Identity.generate
      yield* agentAt(a, rare, { capabilities: [{ id: "rare" }] })
      const asker = yield* Identity.generate
      const client2 = yield* agentAt(a, asker)
      const discover = (cursor?: string) =>
        RawClient.discover(client2, asker, a.did, { capability: "rare", ...(cursor === undefined ? {} : { cursor }) })
      const first = yield* discover()
      assert.deepStrictEqual(first.agents, [])
      assert.isString(first.next_cursor)
      const second = yield* discover(first.next_cursor)
      assert.deepStrictEqual(second.agents.map((agent) => agent.did), [rare.did])
      assert.isUndefined(second.next_cursor)
    }).pipe(Effect.scoped))

  it.live("an agent that only sends heartbeat frames stays in the cluster's directory past the presence TTL; a silent one leaves", () =>
    Effect.gen(function*() {
      // Presence TTL = session timeout = 1.5 s, re-claimed by each node every 0.5 s (not by heartbeats).
      const { a, b } = yield* cluster({}, { sessionTimeoutMs: 1_500, heartbeatIntervalMs: 500 })
      const alice = yield* Identity.generate
      const carol = yield* Identity.generate
      const aliceAtA = yield* agentAt(a, alice)
      const carolAtA = yield* agentAt(a, carol)
      // Four seconds of heartbeats every 400 ms: more than twice the TTL.
      for (let i = 0; i < 10; i++) {
        yield* Effect.sleep("400 millis")
        yield* aliceAtA.send(Heartbeat.FRAME)
        assert.strictEqual(yield* aliceAtA.next(), Heartbeat.ACK_FRAME)
      }
      assert.strictEqual((yield* carolAtA.closed).code, 4004)
      // Bob, registering at the other node now, reaches Alice; Carol is gone from the cluster.
      const bob = yield* Identity.generate
      const atB = yield* agentAt(b, bob)
      yield* relays(bob, atB, alice, aliceAtA)
      yield* atB.send(yield* offer(bob, carol))
      assert.strictEqual((yield* atB.nextOfType("ERROR")).payload.code, "UNKNOWN_AGENT")
    }).pipe(Effect.scoped))
})
