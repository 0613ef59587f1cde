/**
 * The stacks of the behavioural suites in the chromium test project (in place of `transports.ts`):
 * the browser's own RTCPeerConnection, two agents in one page over in-memory signaling.
 */
import { Effect, type Layer, type Scope } from "effect"
import * as BrowserTransport from "../../src/webrtc/stacks/BrowserTransport.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"

export const realTransports: ReadonlyArray<readonly [string, Layer.Layer<Transport>]> = [["browser", BrowserTransport.layer]]

export const allTransports: ReadonlyArray<readonly [string, Effect.Effect<Layer.Layer<Transport>, never, Scope.Scope>]> =
  realTransports.map(([name, layer]) => [name, Effect.succeed(layer)] as const)
