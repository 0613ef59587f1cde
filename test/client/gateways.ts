/**
 * What the client tests connect to (gateways, gateway processes, pins), behind effects and plain
 * data, so the same test files run in Node and in Chromium. In the chromium project
 * `gateways.chromium.ts` takes this module's place and starts the same things in Node over a
 * browser command (test/client/nodeSide.ts).
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { NodeServices } from "@effect/platform-node"
import { Context, Duration, Effect, Layer, type Scope } from "effect"
import { TestClock } from "effect/testing"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { freePort as nodeFreePort, startProcess } from "../gateway/fixtures.ts"
import * as RawClient from "../gateway/RawClient.ts"

export interface TestGateway {
  readonly url: string
  readonly did: string
}

/** A temporary folder, removed with the scope. */
const temporaryDir = (prefix: string) =>
  Effect.acquireRelease(
    Effect.sync(() => mkdtempSync(join(tmpdir(), prefix))),
    (path) => Effect.sync(() => rmSync(path, { recursive: true, force: true }))
  )

/** An in-memory gateway on the current Clock, keeping its key in `dataDir`; stopped with the scope. */
const startIn = (dataDir: string, port: number): Effect.Effect<TestGateway, never, Scope.Scope> =>
  Effect.map(
    Effect.orDie(Layer.build(Gateway.layerMemory(GatewayConfig.make({ host: "127.0.0.1", port, dataDir })))),
    (context) => {
      const gateway = Context.get(context, Gateway.Gateway)
      return { url: gateway.url, did: gateway.did }
    }
  )

/** An in-memory gateway on loopback (a random port unless `port`); stopped with the scope. */
export const start = (options: { readonly port?: number } = {}): Effect.Effect<TestGateway, never, Scope.Scope> =>
  Effect.flatMap(temporaryDir("aiconexus-gateway-"), (dataDir) => startIn(dataDir, options.port ?? 0))

/** One gateway for a whole test file (`layer(CurrentGateway.layer)` of @effect/vitest). */
export class CurrentGateway extends Context.Service<CurrentGateway, TestGateway>()("test/client/CurrentGateway") {
  static readonly layer: Layer.Layer<CurrentGateway> = Layer.effect(CurrentGateway, start())
}

/**
 * Gateways that live on the test's TestClock and share one data folder (one gateway DID, as a
 * restarted gateway): `start` one, and `adjust` moves the time of the test and its gateways.
 */
export const onTestClock: Effect.Effect<{
  readonly start: (options: { readonly port: number }) => Effect.Effect<TestGateway, never, Scope.Scope>
  readonly adjust: (duration: Duration.Input) => Effect.Effect<void>
}, never, Scope.Scope> = Effect.map(temporaryDir("aiconexus-gateway-"), (dataDir) => ({
  start: ({ port }) => startIn(dataDir, port),
  adjust: TestClock.adjust
}))

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export const freePort: Effect.Effect<number> = nodeFreePort

export interface GatewayProcess {
  readonly url: string
  readonly did: string
  /** SIGKILL; done when the process has exited. */
  readonly kill: Effect.Effect<void>
}

/**
 * `aiconexus gateway` processes that share one data folder (so one gateway DID across restarts);
 * each is killed, and the folder removed, with the scope.
 */
export const processes: Effect.Effect<{
  readonly start: (port: number) => Effect.Effect<GatewayProcess, never, Scope.Scope>
}, never, Scope.Scope> = Effect.map(temporaryDir("aiconexus-restart-"), (dataDir) => ({
  start: (port) =>
    Effect.map(Effect.orDie(startProcess(dataDir, port)), (process) => ({
      url: process.url,
      did: process.did,
      kill: Effect.andThen(Effect.sync(() => process.child.kill("SIGKILL")), process.exited)
    }))
}))

/** Gateway pins kept as the platform keeps them (here a file), removed with the scope. */
export const persistentPins: Effect.Effect<Layer.Layer<KnownGateways>, never, Scope.Scope> = Effect.map(
  temporaryDir("aiconexus-pins-"),
  (dir) => KnownGateways.layerFile(join(dir, "known-gateways.json")).pipe(Layer.provide(NodeServices.layer))
)

/**
 * A hostile agent (a fresh identity, registered over a bare WebSocket) sends `frame` through the
 * gateway; the code of the ERROR the gateway answers with.
 */
export const sendAsHostileAgent = (gateway: TestGateway, frame: string): Effect.Effect<string, unknown> =>
  Effect.scoped(Effect.gen(function*() {
    const raw = yield* RawClient.connect(gateway.url)
    yield* RawClient.register(raw, yield* Identity.generate, gateway.did, gateway.url)
    yield* raw.send(frame)
    return (yield* raw.nextOfType("ERROR")).payload.code
  }))
