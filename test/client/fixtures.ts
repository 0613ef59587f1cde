/**
 * Clients and gateways for client tests.
 */
import { NodeSocket } from "@effect/platform-node"
import { Context, Effect, Layer } from "effect"
import { GatewayClient, type GatewayClientConfig } from "../../src/client/GatewayClient.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Identity from "../../src/protocol/Identity.ts"

/** A client (with in-memory gateway pins unless others are given) in the current scope. */
export const client = (
  config: Omit<GatewayClientConfig, "identity"> & { readonly identity?: Identity.Identity },
  knownGateways: Layer.Layer<KnownGateways> = KnownGateways.layerMemory
) =>
  Effect.gen(function*() {
    const identity = config.identity ?? (yield* Identity.generate)
    const context = yield* Layer.build(
      GatewayClient.layer({ ...config, identity }).pipe(
        Layer.provide(Layer.mergeAll(knownGateways, NodeSocket.layerWebSocketConstructor))
      )
    )
    return Context.get(context, GatewayClient)
  })
