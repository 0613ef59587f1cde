/**
 * Agents with a Connector for WebRTC tests: a Signaling Layer, a Transport Layer, loopback only.
 */
import { assert } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, type Scope, Stream } from "effect"
import { GatewayClient } from "../../src/client/GatewayClient.ts"
import { Signaling, SignalingHub } from "../../src/client/Signaling.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { Connector, type ConnectorConfig, type PeerLink } from "../../src/webrtc/link/Connector.ts"
import type * as DataChannel from "../../src/webrtc/peer/DataChannel.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"
import { client } from "../client/fixtures.ts"

// The stacks the suites run on (in the chromium test project: the browser's, see transports.chromium.ts).
export { allTransports, realTransports } from "./transports.ts"

/**
 * A connector for a new agent on a shared signaling hub. `tap` wraps its signaling (e.g. to
 * rewrite the candidates it sends).
 */
export const agentOnHub = (
  hub: Context.Context<SignalingHub>,
  transport: Layer.Layer<Transport>,
  options: Partial<ConnectorConfig> = {},
  tap?: Layer.Layer<Signaling, never, Signaling>
): Effect.Effect<{ readonly identity: Identity.Identity; readonly connector: Connector["Service"]; readonly signaling: Signaling["Service"] }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const memory = Signaling.layerMemory(identity).pipe(Layer.provide(Layer.succeedContext(hub)))
    const signaling = tap === undefined ? memory : tap.pipe(Layer.provide(memory))
    const context = yield* Layer.build(
      Layer.merge(
        Connector.layer({ iceServers: Effect.succeed([]), candidatePolicy: CandidatePolicy.allowAll, connectTimeoutMs: 10_000, ...options }),
        signaling
      ).pipe(Layer.provideMerge(Layer.merge(signaling, transport)))
    )
    return { identity, connector: Context.get(context, Connector), signaling: Context.get(context, Signaling) }
  })

/** A new signaling hub. */
export const hub: Effect.Effect<Context.Context<SignalingHub>, never, Scope.Scope> = Layer.build(SignalingHub.layer)

/** A connector for a new agent registered at a gateway (failing over along `gatewayUrl` when several), signaling through it. */
export const agentOnGateway = (
  gatewayUrl: string | ReadonlyArray<string>,
  transport: Layer.Layer<Transport>,
  options: Partial<ConnectorConfig> = {}
) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const gatewayClient = yield* client({ urls: typeof gatewayUrl === "string" ? [gatewayUrl] : gatewayUrl, identity })
    yield* gatewayClient.session
    const context = yield* Layer.build(
      // ICE servers from the gateway's REGISTERED, as an application would take them.
      Connector.layerWithGateway({ candidatePolicy: CandidatePolicy.allowAll, connectTimeoutMs: 10_000, ...options }).pipe(
        Layer.provideMerge(Layer.merge(Signaling.layerGateway, transport)),
        Layer.provide(Layer.succeed(GatewayClient, gatewayClient))
      )
    )
    return { identity, gatewayClient, connector: Context.get(context, Connector), signaling: Context.get(context, Signaling) }
  })

/** Connects `a` to `b` and returns both ends. */
export const connectPair = (
  a: { readonly connector: Connector["Service"] },
  b: { readonly connector: Connector["Service"]; readonly identity: Identity.Identity }
) =>
  Effect.gen(function*() {
    const accepted = yield* b.connector.incoming.pipe(Stream.runHead, Effect.forkChild)
    const offerer = yield* a.connector.connect(b.identity.did)
    const answerer = Option.getOrThrow(yield* Fiber.join(accepted))
    return { offerer, answerer }
  })

/** Two agents on a new in-memory hub over `makeTransport`, connected: the offerer's and the answerer's links. */
export const connectedPair = (makeTransport: Effect.Effect<Layer.Layer<Transport>, never, Scope.Scope>) =>
  Effect.gen(function*() {
    const transport = yield* makeTransport
    const signalingHub = yield* hub
    const alice = yield* agentOnHub(signalingHub, transport)
    const bob = yield* agentOnHub(signalingHub, transport)
    return yield* connectPair(alice, bob)
  })

/** Exchanges text and binary both ways on the control channel and on a new application channel. */
export const exchange = (offerer: PeerLink, answerer: PeerLink) =>
  Effect.gen(function*() {
    const receive = (channel: { readonly messages: Stream.Stream<DataChannel.Message> }, n: number) => Effect.forkChild(channel.messages.pipe(Stream.take(n), Stream.runCollect))
    const atAnswerer = yield* receive(answerer.control, 2)
    yield* offerer.control.send("hello from the offerer")
    yield* offerer.control.send(new Uint8Array([0, 1, 2, 255]))
    assert.deepStrictEqual([...(yield* Fiber.join(atAnswerer))], ["hello from the offerer", new Uint8Array([0, 1, 2, 255])])
    const atOfferer = yield* receive(offerer.control, 2)
    yield* answerer.control.send("hello from the answerer")
    yield* answerer.control.send(new Uint8Array([9, 8, 7]))
    assert.deepStrictEqual([...(yield* Fiber.join(atOfferer))], ["hello from the answerer", new Uint8Array([9, 8, 7])])
    // An application channel opened after connect (no renegotiation).
    const remoteApp = yield* Effect.forkChild(answerer.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "app"), Stream.runHead))
    const app = yield* offerer.peer.createDataChannel({ label: "app", ordered: true })
    yield* app.opened
    const theirs = Option.getOrThrow(yield* Fiber.join(remoteApp))
    const appAtAnswerer = yield* receive(theirs, 1)
    const appAtOfferer = yield* receive(app, 1)
    yield* app.send(new Uint8Array(4096).fill(42))
    yield* theirs.send("app reply")
    assert.deepStrictEqual([...(yield* Fiber.join(appAtAnswerer))], [new Uint8Array(4096).fill(42)])
    assert.deepStrictEqual([...(yield* Fiber.join(appAtOfferer))], ["app reply"])
  })

/** Waits (bounded) until the link's current connection is in `state`. */
export const reaches = (link: PeerLink, state: RTCPeerConnectionState) =>
  link.peer.connection.changes.pipe(
    Stream.filter((s) => s === state),
    Stream.runHead,
    Effect.timeout("15 seconds")
  )

/** The link's first recovery event (bounded). */
export const firstEvent = (link: PeerLink) =>
  link.events.pipe(Stream.runHead, Effect.map(Option.getOrThrow), Effect.timeout("30 seconds"))
