import { NodeRuntime, NodeSocket } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Stream } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/stacks/NodeDataChannelTransport.ts"

// Two agents on one embedded gateway; bob serves "echo", alice calls it over WebRTC.
const platform = Layer.mergeAll(NodeDataChannelTransport.layer(), KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor)
const agent = (url: string, serve: Parameters<typeof Agent.layer>[0]["serve"] = []) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    // Loopback candidates are refused by default; this example runs on one machine.
    const layer = Agent.layer({ urls: [url], identity, serve, candidatePolicy: CandidatePolicy.allowAll })
    return Context.get(yield* Layer.build(Layer.provide(layer, platform)), Agent)
  })

const program = Effect.gen(function*() {
  const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(GatewayConfig.make({ port: 0 }))), Gateway.Gateway)
  const bob = yield* agent(gateway.url, [{ capability: { id: "echo" }, handler: (args) => Effect.succeed(args) }])
  const alice = yield* agent(gateway.url)
  yield* Effect.forkScoped(Stream.runForEach(bob.sessions, (s) => Console.log(`bob: session from ${s.remote}`)))
  const [peer] = yield* alice.discover({ capability: "echo" })
  const session = yield* alice.connect(peer!.did)
  const result = yield* session.request("echo", { text: "hello, bob" })
  yield* Console.log(`alice got ${JSON.stringify(result)}`)
})

NodeRuntime.runMain(Effect.scoped(program))
