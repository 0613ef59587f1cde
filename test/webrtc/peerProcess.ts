/**
 * Run as a child process by Liveness.test.ts: an agent at the gateway given in argv that accepts
 * one connection over node-datachannel, runs its control channel, and waits to be killed.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import { Signaling } from "../../src/client/Signaling.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { Connector } from "../../src/webrtc/link/Connector.ts"
import * as EnvelopeChannel from "../../src/webrtc/link/EnvelopeChannel.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/stacks/NodeDataChannelTransport.ts"

const url = process.argv[2]!
const program = Effect.gen(function*() {
  const identity = yield* Identity.generate
  const client = GatewayClient.layer({ urls: [url], identity }).pipe(
    Layer.provide(Layer.merge(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
  )
  const context = yield* Layer.build(
    Connector.layerWithGateway({ candidatePolicy: CandidatePolicy.allowAll }).pipe(
      Layer.provide(Layer.merge(Signaling.layerGateway, NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" }))),
      Layer.provideMerge(client)
    )
  )
  yield* Context.get(context, GatewayClient).session
  console.log(`ready ${identity.did}`)
  const link = Option.getOrThrow(yield* Context.get(context, Connector).incoming.pipe(Stream.runHead))
  yield* EnvelopeChannel.make(link, identity, { pingIntervalMs: 100, livenessTimeoutMs: 1_000 })
  console.log("connected")
  return yield* Effect.never
}).pipe(Effect.scoped)

Effect.runFork(program)
