/**
 * `fixtures.ts` for the chromium test project: the same client over the browser's WebSocket.
 */
import { Context, Effect, Layer } from "effect"
import * as Socket from "effect/socket/Socket"
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
        Layer.provide(Layer.mergeAll(knownGateways, Socket.layerWebSocketConstructorGlobal))
      )
    )
    return Context.get(context, GatewayClient)
  })
