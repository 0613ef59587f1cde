/**
 * Agent sessions across a broken and restored network path: a capability call in flight is
 * answered after an ICE restart (werift), or fails typed when the connection was rebuilt
 * (node-datachannel) instead of waiting for its timeout.
 */
import { NodeSocket } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Deferred, Effect, Fiber, Layer, Stream } from "effect"
import { Agent, type AgentConfig, CONNECTION_REESTABLISHED } from "../../src/agent/Agent.ts"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import { Signaling } from "../../src/client/Signaling.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { Connector } from "../../src/webrtc/link/Connector.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { firstEvent, reaches, realTransports } from "../webrtc/fixtures.ts"
import * as UdpRelay from "../webrtc/udpRelay.ts"

const recovery = { attemptTimeoutMs: 8_000 }

/** An agent at the gateway whose ICE goes through `relay`, with recovery on. */
const agentThroughRelay = (
  url: string,
  relay: UdpRelay.UdpRelay,
  transport: Layer.Layer<Transport>,
  config: Omit<AgentConfig, "urls" | "identity"> = {}
) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const full: AgentConfig = { urls: [url], identity, liveness: { pingIntervalMs: 100, livenessTimeoutMs: 3_000 }, ...config }
    const client = GatewayClient.layer({ ...full, capabilities: (full.serve ?? []).map((s) => s.capability) }).pipe(
      Layer.provide(Layer.merge(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
    )
    const connector = Connector.layerWithGateway({ candidatePolicy: CandidatePolicy.allowAll, recovery }).pipe(
      Layer.provide(Layer.merge(UdpRelay.tap(relay).pipe(Layer.provide(Signaling.layerGateway)), transport))
    )
    const context = yield* Layer.build(Agent.layerWithConnector(full).pipe(Layer.provide(connector), Layer.provideMerge(client)))
    return Context.get(context, Agent)
  })

describe.each(realTransports)("agent sessions across a broken path on %s", (name, transport) => {
  it.live("a call in flight while the path breaks and returns: answered after an ICE restart, or failed typed after a rebuild", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const relay = yield* UdpRelay.make
      const started = yield* Deferred.make<void>()
      const bob = yield* agentThroughRelay(gateway.url, relay, transport, {
        serve: [
          { capability: { id: "echo" }, handler: (args) => Effect.succeed(args) },
          { capability: { id: "slow" }, handler: () => Effect.andThen(Deferred.succeed(started, undefined), Effect.as(Effect.sleep("2 seconds"), { done: true })) }
        ]
      })
      const alice = yield* agentThroughRelay(gateway.url, relay, transport)
      yield* Effect.forkChild(bob.sessions.pipe(Stream.runHead))
      const session = yield* alice.connect(bob.did)
      assert.deepStrictEqual(yield* session.request("echo", { n: 1 }), { n: 1 })

      const call = yield* session.request("slow", {}, { timeoutMs: 25_000 }).pipe(Effect.result, Effect.forkChild)
      yield* Deferred.await(started).pipe(Effect.timeout("10 seconds"))
      yield* relay.pause
      yield* reaches(session.link, "disconnected")
      yield* relay.resume
      const outcome = yield* Fiber.join(call).pipe(Effect.timeout("20 seconds"))
      const event = yield* firstEvent(session.link)
      if (name === "werift") {
        assert.strictEqual(event._tag, "IceRestarted")
        assert.deepStrictEqual(outcome._tag === "Success" ? outcome.success : outcome.failure, { done: true })
      } else {
        assert.strictEqual(event._tag, "Reestablished")
        assert.strictEqual(outcome._tag === "Failure" ? outcome.failure.code : "answered", CONNECTION_REESTABLISHED)
      }
      // The session carries on.
      assert.deepStrictEqual(yield* session.request("echo", { n: 2 }, { timeoutMs: 10_000 }), { n: 2 })
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
