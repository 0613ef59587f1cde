/**
 * The WebRTC stacks the behavioural suites run on, in Node. The chromium test project replaces
 * this module with `transports.chromium.ts` (vitest.config.ts), so the same suites run on the
 * browser's own stack.
 */
import { Effect, type Layer, type Scope } from "effect"
import * as MockTransport from "../../src/webrtc/stacks/MockTransport.ts"
import * as NodeDataChannelTransport from "../../src/webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../../src/webrtc/stacks/NodeWeriftTransport.ts"
import type { Transport } from "../../src/webrtc/peer/Transport.ts"

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
