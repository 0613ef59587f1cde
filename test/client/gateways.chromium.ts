/**
 * `gateways.ts` for the chromium project: the same gateways and gateway processes, started in Node
 * (test/client/nodeSide.ts) for the client under test in the browser; pins in IndexedDB.
 */
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import { TestClock } from "effect/testing"
import * as BrowserKnownGateways from "../../src/browser/BrowserKnownGateways.ts"
import { BrowserStorage } from "../../src/browser/BrowserStorage.ts"
import type { KnownGateways } from "../../src/client/KnownGateways.ts"
import type { GatewayProcess, TestGateway } from "./gateways.ts"
import { acquire, call } from "./fromBrowser.ts"

export type { GatewayProcess, TestGateway }

/** An in-memory gateway on loopback in Node (a random port unless `port`); stopped with the scope. */
export const start = (options: { readonly port?: number } = {}): Effect.Effect<TestGateway, never, Scope.Scope> =>
  Effect.map(acquire(call("gatewayStart", options)), ({ url, did }) => ({ url, did }))

/** One gateway for a whole test file (`layer(CurrentGateway.layer)` of @effect/vitest). */
export class CurrentGateway extends Context.Service<CurrentGateway, TestGateway>()("test/client/CurrentGateway") {
  static readonly layer: Layer.Layer<CurrentGateway> = Layer.effect(CurrentGateway, start())
}

/**
 * Gateways in Node that share one data folder (one gateway DID, as a restarted gateway) and run on
 * a TestClock there that starts where the test's does (0): `adjust` moves both, so the client in
 * the browser and its gateways keep one simulated time.
 */
export const onTestClock: Effect.Effect<{
  readonly start: (options: { readonly port: number }) => Effect.Effect<TestGateway, never, Scope.Scope>
  readonly adjust: (duration: Duration.Input) => Effect.Effect<void>
}, never, Scope.Scope> = Effect.map(
  acquire(Effect.map(call("testClockGateways"), (id) => ({ id }))),
  ({ id }) => ({
    start: ({ port }) => Effect.map(acquire(call("testClockGatewayStart", id, port)), ({ url, did }) => ({ url, did })),
    adjust: (duration) =>
      Effect.andThen(TestClock.adjust(duration), call("testClockAdjust", id, Duration.toMillis(Duration.fromInputUnsafe(duration))))
  })
)

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort: Effect.Effect<number> = call("freePort")

/**
 * `aiconexus gateway` processes in Node that share one data folder (so one gateway DID across
 * restarts); each is killed, and the folder removed, with the scope.
 */
export const processes: Effect.Effect<{
  readonly start: (port: number) => Effect.Effect<GatewayProcess, never, Scope.Scope>
}, never, Scope.Scope> = Effect.map(
  acquire(Effect.map(call("processesStart"), (id) => ({ id }))),
  ({ id: processesId }) => ({
    start: (port) =>
      Effect.map(acquire(call("processStart", processesId, port)), ({ id, url, did }) => ({
        url,
        did,
        kill: Effect.asVoid(call("processKill", id))
      }))
  })
)

/** Gateway pins kept as the browser keeps them (IndexedDB), the database deleted with the scope. */
export const persistentPins: Effect.Effect<Layer.Layer<KnownGateways>, never, Scope.Scope> = Effect.map(
  Effect.acquireRelease(
    Effect.sync(() => `aiconexus-test-pins-${crypto.randomUUID()}`),
    (name) => Effect.callback<void>((resume) => {
      const request = indexedDB.deleteDatabase(name)
      request.onsuccess = request.onerror = request.onblocked = () => resume(Effect.void)
    })
  ),
  (name) => Layer.orDie(BrowserKnownGateways.layer.pipe(Layer.provide(BrowserStorage.layer(name))))
)

/**
 * A hostile agent (a fresh identity, registered over a bare WebSocket, in Node) sends `frame`
 * through the gateway; the code of the ERROR the gateway answers with.
 */
export const sendAsHostileAgent = (gateway: TestGateway, frame: string): Effect.Effect<string, unknown> =>
  call("sendAsHostileAgent", gateway, frame)
