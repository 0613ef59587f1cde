/**
 * The stacks of the behavioural suites in the chromium test project (in place of `transports.ts`):
 * the browser's own RTCPeerConnection, two agents in one page over in-memory signaling.
 *
 * `realTransports` (the suites of stacks confined to 127.0.0.1, such as "the selected pair is on
 * 127.0.0.1") is empty here: Chromium cannot be confined to loopback and pairs on any address of
 * the host. The browser's selected pair is checked in test/browser/Mdns.test.ts.
 */
import { Effect, type Layer, type Scope } from "effect"
import * as BrowserTransport from "../../src/webrtc/stacks/BrowserTransport.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"

export const realTransports: ReadonlyArray<readonly [string, Layer.Layer<Transport>]> = []

export const allTransports: ReadonlyArray<readonly [string, Effect.Effect<Layer.Layer<Transport>, never, Scope.Scope>]> = [
  ["browser", Effect.succeed(BrowserTransport.layer)]
]
