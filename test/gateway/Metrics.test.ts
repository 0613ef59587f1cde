/**
 * The gateway's metrics from the start of a node: every series without labels (and the relayed
 * and undelivered series, whose labels are a known set) at 0, and the agents gauge equal to the
 * registered agents as they come and go (it was set to ±1 instead of changed by it).
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const text = (url: string) => Effect.promise(() => fetch(url).then((response) => response.text()))
const sample = (metrics: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1])

layer(Gateway.layerMemory(testConfig()), { excludeTestServices: true })("gateway metrics", (it) => {
  it.effect("every documented series is there at 0 before anything happened; aiconexus_gateway_agents follows registrations", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const fresh = yield* text(`${gateway.httpUrl}/metrics`)
      for (const series of [
        "aiconexus_gateway_sessions",
        "aiconexus_gateway_agents",
        "aiconexus_gateway_registrations_total",
        "aiconexus_gateway_heartbeats_total",
        "aiconexus_gateway_relay_latency_seconds_count",
        `aiconexus_gateway_frames_relayed_total{type="OFFER"}`,
        `aiconexus_gateway_relay_undelivered_total{reason="unknown"}`
      ]) assert.strictEqual(sample(fresh, series), 0, `${series} in\n${fresh}`)
      // Only a cluster node has the degraded gauge.
      assert.notInclude(fresh, "aiconexus_gateway_cluster_degraded")

      const agents = yield* Effect.forEach([1, 2, 3], () =>
        Effect.gen(function*() {
          const client = yield* RawClient.connect(gateway.url)
          yield* RawClient.register(client, yield* Identity.generate, gateway.did, gateway.url)
          return client
        }))
      const health = JSON.parse(yield* text(`${gateway.httpUrl}/health`)) as { agents: number }
      assert.strictEqual(health.agents, 3)
      assert.strictEqual(sample(yield* text(`${gateway.httpUrl}/metrics`), "aiconexus_gateway_agents"), 3)

      // Churn: two leave, one comes back; gauge and /health agree all along.
      yield* agents[0]!.close
      yield* agents[1]!.close
      const settled = (expected: number) =>
        Effect.gen(function*() {
          const count = sample(yield* text(`${gateway.httpUrl}/metrics`), "aiconexus_gateway_agents")
          if (count !== expected) return yield* Effect.fail(`agents gauge ${count}, expected ${expected}`)
        }).pipe(Effect.retry({ schedule: Schedule.spaced("20 millis"), times: 250 }))
      yield* settled(1)
      const again = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(again, yield* Identity.generate, gateway.did, gateway.url)
      yield* settled(2)
      assert.strictEqual((JSON.parse(yield* text(`${gateway.httpUrl}/health`)) as { agents: number }).agents, 2)
    }))
})
