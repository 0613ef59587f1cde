import { NodeRuntime, NodeSocket } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Stream } from "effect"
import { Agent, type AgentConfig } from "aiconexus/agent"
import { KnownGateways } from "aiconexus/client"
import { Gateway, GatewayConfig } from "aiconexus/gateway"
import { Identity } from "aiconexus/protocol"
import { CandidatePolicy, NodeDataChannelTransport } from "aiconexus/webrtc"

// Two agents on one embedded gateway; bob serves "echo", alice calls it over WebRTC.
const platform = Layer.mergeAll(NodeDataChannelTransport.layer(), KnownGateways.KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor)
const agent = (url: string, serve: AgentConfig["serve"] = []) =>
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
