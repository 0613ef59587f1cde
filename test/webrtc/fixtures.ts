/**
 * Agents with a Connector for WebRTC tests: a Signaling Layer, a Transport Layer, loopback only.
 */
import { Context, Effect, Layer, type Scope } from "effect"
import { Signaling, SignalingHub } from "../../src/client/Signaling.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/CandidatePolicy.ts"
import { Connector, type ConnectorConfig } from "../../src/webrtc/Connector.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../../src/webrtc/NodeWeriftTransport.ts"
import * as MockTransport from "../../src/webrtc/MockTransport.ts"
import type { Transport } from "../../src/webrtc/Transport.ts"

/** The real stacks, confined to 127.0.0.1. */
export const realTransports: ReadonlyArray<readonly [string, Layer.Layer<Transport>]> = [
  ["node-datachannel", NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" })],
  ["werift", NodeWeriftTransport.layer({ loopback: true })]
]

/** Every stack: the real ones and the mock (on a fresh mock network). */
export const allTransports: ReadonlyArray<readonly [string, Effect.Effect<Layer.Layer<Transport>, never, Scope.Scope>]> = [
  ...realTransports.map(([name, layer]) => [name, Effect.succeed(layer)] as const),
  ["mock", Effect.map(MockTransport.makeNetwork, MockTransport.layer)]
]

/** A connector for a new agent on a shared signaling hub. */
export const agentOnHub = (
  hub: Context.Context<SignalingHub>,
  transport: Layer.Layer<Transport>,
  options: Partial<ConnectorConfig> = {}
): Effect.Effect<{ readonly identity: Identity.Identity; readonly connector: Connector["Service"]; readonly signaling: Signaling["Service"] }, unknown, Scope.Scope> =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const signaling = Signaling.layerMemory(identity).pipe(Layer.provide(Layer.succeedContext(hub)))
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
