/**
 * Run as a child process by Agent.test.ts: an Agent at the gateway given in argv serving
 * `forever`, an endless stream; it prints `ready DID` and waits to be killed.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer, Schedule, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/stacks/NodeDataChannelTransport.ts"

const program = Effect.gen(function*() {
  const identity = yield* Identity.generate
  const context = yield* Layer.build(
    Agent.layer({
      urls: [process.argv[2]!],
      identity,
      candidatePolicy: CandidatePolicy.allowAll,
      serve: [{ capability: { id: "forever" }, stream: () => Stream.fromSchedule(Schedule.spaced("10 millis")) }]
    }).pipe(Layer.provide(Layer.mergeAll(NodeDataChannelTransport.layer(), KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor)))
  )
  yield* Context.get(context, GatewayClient).session
  console.log(`ready ${Context.get(context, Agent).did}`)
  return yield* Effect.never
}).pipe(Effect.scoped)

Effect.runFork(program)
