/**
 * Run as a child process by Backpressure.test.ts: a werift agent that accepts one connection, then
 * stops reading for a while (its event loop blocked, as in a process that fell behind), then reads
 * everything. It prints how many bytes it received.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer, Option, Stream } from "effect"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import { Signaling } from "../../src/client/Signaling.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { Connector } from "../../src/webrtc/link/Connector.ts"
import * as NodeWeriftTransport from "../../src/webrtc/stacks/NodeWeriftTransport.ts"

const [url, blockMs] = [process.argv[2]!, Number(process.argv[3])]
const program = Effect.gen(function*() {
  const identity = yield* Identity.generate
  const context = yield* Layer.build(
    Connector.layerWithGateway({ candidatePolicy: CandidatePolicy.allowAll }).pipe(
      Layer.provide(Layer.merge(Signaling.layerGateway, NodeWeriftTransport.layer({ loopback: true }))),
      Layer.provideMerge(GatewayClient.layer({ urls: [url], identity }).pipe(
        Layer.provide(Layer.merge(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
      ))
    )
  )
  yield* Context.get(context, GatewayClient).session
  console.log(`ready ${identity.did}`)
  const link = Option.getOrThrow(yield* Context.get(context, Connector).incoming.pipe(Stream.runHead))
  const bulk = Option.getOrThrow(yield* link.peer.remoteChannels.pipe(Stream.runHead))
  console.log("blocking")
  // The whole process stops: no UDP is read, so the sender's SCTP window closes.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, blockMs)
  console.log("reading")
  let received = 0
  yield* bulk.messages.pipe(Stream.runForEach((m) => Effect.sync(() => {
    received += typeof m === "string" ? m.length : m.byteLength
    console.log(`received ${received}`)
  })))
}).pipe(Effect.scoped)

Effect.runFork(program)
