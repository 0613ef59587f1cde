/**
 * Agents for tests: a real Agent on node-datachannel, loopback candidates allowed, pins in memory.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { Agent, type AgentConfig } from "../../src/agent/Agent.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { realTransports } from "../webrtc/fixtures.ts"

/** An Agent registered at `url` (a new identity unless one is given), living in the test's scope. */
export const agent = (url: string, config: Omit<AgentConfig, "urls" | "identity"> = {}, identity?: Identity.Identity) =>
  Effect.gen(function*() {
    const id = identity ?? (yield* Identity.generate)
    const context = yield* Layer.build(
      Agent.layer({ urls: [url], identity: id, candidatePolicy: CandidatePolicy.allowAll, ...config }).pipe(
        Layer.provide(Layer.mergeAll(realTransports[0]![1], KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
      )
    )
    return Context.get(context, Agent)
  })
