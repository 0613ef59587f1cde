/**
 * Gateway nodes as separate `aiconexus gateway` processes on one real `redis-server`: agents on
 * different nodes connect over real WebRTC; a node killed with SIGKILL takes its agents out of the
 * cluster's directory within the session timeout, and its agents fail over to the other node,
 * which presents the same (pinned) gateway DID.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Redacted, Stream } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { agentOnGateway, connectPair, exchange, realTransports } from "../webrtc/fixtures.ts"
import { CLI, runNode } from "../processes.ts"
import { eventually, freePort, startProcess, testConfig } from "./fixtures.ts"
import * as RedisServer from "./redisServer.ts"

const SESSION_TIMEOUT_MS = 2_000

const agentsAt = (httpUrl: string) =>
  Effect.promise(() =>
    fetch(`${httpUrl}/agents?limit=100`).then((response) => response.json() as Promise<{ agents: Array<{ did: string }> }>)
  ).pipe(Effect.map((body) => body.agents.map((agent) => agent.did)))

/** A Redis and the settings every node process of its cluster shares (one key file, short timeouts). */
const clusterOfProcesses = Effect.gen(function*() {
  const redis = yield* RedisServer.start()
  const dir = mkdtempSync(join(tmpdir(), "aiconexus-cluster-"))
  const env = {
    AICONEXUS_REDIS_URL: Redacted.value(redis.url),
    AICONEXUS_KEY_FILE: join(dir, "gateway-identity.json"),
    AICONEXUS_SESSION_TIMEOUT_MS: String(SESSION_TIMEOUT_MS),
    AICONEXUS_HEARTBEAT_INTERVAL_MS: "500"
  }
  return { redis, env, startNode: (name: string) => startProcess(join(dir, name), 0, env) }
})

describe("gateway cluster, nodes as processes", () => {
  it.live("agents on two nodes connect over WebRTC; a killed node's agents leave the directory and fail over", () =>
    Effect.gen(function*() {
      const { startNode } = yield* clusterOfProcesses
      const first = yield* startNode("one")
      const second = yield* startNode("two")
      assert.strictEqual(first.did, second.did)
      const [, transport] = realTransports[0]!
      const alice = yield* agentOnGateway([first.url, second.url], transport)
      const bob = yield* agentOnGateway(second.url, transport)
      const { offerer, answerer } = yield* connectPair(alice, bob)
      yield* exchange(offerer, answerer)

      const secondHttp = second.url.replace(/^ws/, "http").replace(/\/ws$/, "")
      assert.deepStrictEqual((yield* agentsAt(secondHttp)).sort(), [alice.identity.did, bob.identity.did].sort())
      first.child.kill("SIGKILL")
      yield* first.exited
      // Alice's client reconnects to the other node; until then, her entry expires with the session timeout.
      const registeredAtSecond = alice.gatewayClient.changes.pipe(
        Stream.filter((state) => state._tag === "Registered" && state.session.url === second.url),
        Stream.runHead
      )
      const session = yield* registeredAtSecond.pipe(Effect.timeout("20 seconds"))
      assert.isTrue(session._tag === "Some")
      yield* eventually(agentsAt(secondHttp), (dids) => dids.includes(alice.identity.did) && dids.includes(bob.identity.did))
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("a node that dies takes its agents out of the other nodes' directory within the session timeout", () =>
    Effect.gen(function*() {
      const { env, redis, startNode } = yield* clusterOfProcesses
      const doomed = yield* startNode("doomed")
      // The surviving node runs in this process.
      const survivor = yield* Layer.build(
        Gateway.layerRedis(testConfig({ keyFile: env.AICONEXUS_KEY_FILE, sessionTimeoutMs: SESSION_TIMEOUT_MS, heartbeatIntervalMs: 500 }), redis.url)
      ).pipe(Effect.map(Context.get(Gateway.Gateway)))
      const [, transport] = realTransports[0]!
      const carol = yield* agentOnGateway(doomed.url, transport)
      const dave = yield* agentOnGateway(survivor.url, transport)
      yield* eventually(agentsAt(survivor.httpUrl), (dids) => dids.length === 2)
      yield* carol.gatewayClient.session
      // Carol's entry lives no longer than the session timeout unless her node refreshes it.
      const redisClient = yield* RedisServer.client(redis)
      const ttl = yield* Effect.promise(() => redisClient.pTTL(`{aiconexus}:agent:${carol.identity.did}`))
      assert.isAbove(ttl, 0)
      assert.isAtMost(ttl, SESSION_TIMEOUT_MS)
      doomed.child.kill("SIGKILL")
      yield* doomed.exited
      yield* eventually(agentsAt(survivor.httpUrl), (dids) => !dids.includes(carol.identity.did))
      assert.deepStrictEqual(yield* agentsAt(survivor.httpUrl), [dave.identity.did])
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("the CLI gateway with an unreachable Redis says so on one line, hides the password and exits 1", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-cluster-"))
      const { code, output } = yield* runNode([...CLI, "gateway", "--port", "0", "--data-dir", dataDir], {
        env: { AICONEXUS_REDIS_URL: `redis://agent:hunter2@127.0.0.1:${port}`, AICONEXUS_LOG_LEVEL: "Error" }
      })
      assert.strictEqual(code, 1)
      assert.include(output, `error: cannot connect to the cluster's Redis at redis://127.0.0.1:${port}`)
      assert.notInclude(output, "hunter2")
    }), { timeout: 60_000 })
})
