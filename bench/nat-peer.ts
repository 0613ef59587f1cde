/**
 * One side of `npm run bench -- nat`, run by bench/nat.ts inside a lab namespace:
 *
 *   node bench/nat-peer.ts listen STACK POLICY GATEWAY_URL
 *   node bench/nat-peer.ts dial STACK POLICY GATEWAY_URL DID SETUPS BYTES
 *
 * STACK is node-datachannel, werift or werift-tcp (werift with TURN over TCP). `listen` prints
 * `ready DID` and answers: on each link's `bulk` channel it counts the bytes and answers `done`
 * once it has them all. `dial` connects SETUPS times (time to an open control channel, each link
 * closed again), then once more to send BYTES over `bulk`; it prints one JSON line.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Fiber, Layer, Stream } from "effect"
import { GatewayClient } from "../src/client/GatewayClient.ts"
import { KnownGateways } from "../src/client/KnownGateways.ts"
import { Signaling } from "../src/client/Signaling.ts"
import type { Did } from "../src/protocol/Did.ts"
import * as Identity from "../src/protocol/Identity.ts"
import { Connector } from "../src/webrtc/link/Connector.ts"
import * as CandidatePolicy from "../src/webrtc/peer/CandidatePolicy.ts"
import * as PeerMetrics from "../src/webrtc/peer/PeerMetrics.ts"
import type { Transport } from "../src/webrtc/peer/Transport.ts"
import * as NodeDataChannelTransport from "../src/webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../src/webrtc/stacks/NodeWeriftTransport.ts"

const [role, stack, policy, url, did, setups, bytes] = process.argv.slice(2) as [string, string, "all" | "relay", string, string, string, string]

const transport: Layer.Layer<Transport> = stack === "werift"
  ? NodeWeriftTransport.layer()
  : stack === "werift-tcp"
  ? NodeWeriftTransport.layer({ turnTransport: "tcp", turnOnly: true })
  : NodeDataChannelTransport.layer()

const connector = Effect.gen(function*() {
  const identity = yield* Identity.generate
  const client = Context.get(
    yield* Layer.build(GatewayClient.layer({ urls: [url], identity, allowInsecure: true }).pipe(
      Layer.provide(Layer.mergeAll(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
    )),
    GatewayClient
  )
  const session = yield* client.session
  const context = yield* Layer.build(
    Connector.layer({ iceServers: Effect.succeed(session.iceServers), candidatePolicy: CandidatePolicy.allowAll, iceTransportPolicy: policy }).pipe(
      Layer.provide(Layer.merge(Signaling.layerGateway.pipe(Layer.provide(Layer.succeed(GatewayClient, client))), transport))
    )
  )
  return { did: identity.did, connector: Context.get(context, Connector) }
})

const listen = Effect.gen(function*() {
  const { connector: c, did: self } = yield* connector
  console.log(`ready ${self}`)
  yield* c.incoming.pipe(
    Stream.runForEach((link) =>
      link.peer.remoteChannels.pipe(
        Stream.filter((channel) => channel.label === "bulk"),
        Stream.runForEach((channel) =>
          channel.messages.pipe(
            Stream.scan((): number => 0, (total: number, m) => total + (typeof m === "string" ? m.length : m.byteLength)),
            Stream.takeUntil((total) => total >= Number(bytes ?? 0) && total > 0),
            Stream.runLast,
            Effect.andThen((total) => channel.send(`done ${total._tag === "Some" ? total.value : 0}`)),
            Effect.ignore
          )),
        Effect.forkScoped
      )),
    Effect.forkScoped
  )
  return yield* Effect.never
})

const dial = Effect.gen(function*() {
  const { connector: c } = yield* connector
  const setup: Array<number> = []
  let path = ""
  for (let i = 0; i < Number(setups); i++) {
    yield* Effect.scoped(Effect.gen(function*() {
      const start = performance.now()
      const link = yield* c.connect(did as Did)
      setup.push(performance.now() - start)
      const { local, remote } = PeerMetrics.pathLabels((yield* link.peer.stats).selectedPair)
      path = `${local}->${remote}`
    }))
  }
  const total = Number(bytes)
  const throughput = yield* Effect.scoped(Effect.gen(function*() {
    const link = yield* c.connect(did as Did)
    const channel = yield* link.peer.createDataChannel({ label: "bulk", ordered: true })
    yield* channel.opened
    const done = yield* Effect.forkChild(channel.messages.pipe(Stream.runHead))
    const chunk = new Uint8Array(Math.min(16 * 1024, yield* link.peer.maxMessageSize))
    const start = performance.now()
    for (let sent = 0; sent < total; sent += chunk.byteLength) yield* channel.send(chunk)
    yield* Fiber.join(done)
    return total / 1024 / 1024 / ((performance.now() - start) / 1000)
  }))
  console.log(JSON.stringify({ setup, throughput, path }))
})

const program = role === "listen" ? listen : dial
Effect.runPromise(Effect.scoped(program)).then(
  () => process.exit(0),
  (error) => {
    console.error(`error: ${error instanceof Error ? error.message : String(error)}`)
    process.exit(1)
  }
)
