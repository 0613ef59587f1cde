/**
 * The Node side of the client tests that run in Chromium: gateways, fake gateways and gateway
 * processes on loopback, which the tests start and stop through one vitest browser command
 * (`clientTests`, vitest.config.ts). The client runs in the browser; what it connects to runs here.
 *
 * Each resource lives in its own Scope; the test closes it (`stop`) from its own finalizer. What a
 * crashed or timed-out test leaves behind is closed by the chromium project's global teardown
 * (test/client/nodeSideTeardown.ts). Only plain data crosses to the browser.
 */
import { type Context, Effect, Exit, Layer, Scope } from "effect"
import { TestClock } from "effect/testing"
import type * as Envelope from "../../src/protocol/Envelope.ts"
import * as FakeGateway from "./FakeGateway.ts"
import * as Gateways from "./gateways.ts"

interface Resource {
  readonly close: () => Promise<void>
  readonly value: unknown
}

/** Shared by every copy of this module in the process (the command and the global teardown). */
const resources: Map<string, Resource> = ((globalThis as { [key: symbol]: unknown })[Symbol.for("aiconexus.test.nodeSide")] ??= new Map()) as Map<string, Resource>

/** Runs `acquire` in a new scope kept under a new id until `stop(id)` (or `closeAll`). */
const open = async <A>(acquire: Effect.Effect<A, unknown, Scope.Scope>): Promise<{ readonly id: string; readonly value: A }> => {
  const scope = await Effect.runPromise(Scope.make())
  const exit = await Effect.runPromiseExit(Scope.provide(acquire, scope))
  if (Exit.isFailure(exit)) {
    await Effect.runPromise(Scope.close(scope, exit))
    throw new Error(`could not start: ${String(exit.cause)}`)
  }
  const id = crypto.randomUUID()
  resources.set(id, { value: exit.value, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) })
  return { id, value: exit.value }
}

const get = <A>(id: string): A => {
  const resource = resources.get(id)
  if (resource === undefined) throw new Error(`no resource ${id} (stopped already?)`)
  return resource.value as A
}

interface TestClockGateways {
  readonly clock: Context.Context<TestClock.TestClock>
  readonly gateways: Effect.Success<typeof Gateways.onTestClock>
}

/** What the browser may ask for. Every answer is plain data. */
export const api = {
  /** A free loopback port (free a moment ago). */
  freePort: () => Effect.runPromise(Gateways.freePort),

  /** An in-memory gateway on loopback (`port` 0: a random one). */
  gatewayStart: async (options: { readonly port?: number } = {}) => {
    const { id, value } = await open(Gateways.start(options))
    return { id, ...value }
  },

  /**
   * `Gateways.onTestClock` on a TestClock of its own here, which starts where the browser test's
   * does (0) and is moved with it (`testClockAdjust`).
   */
  testClockGateways: async () =>
    (await open(Effect.gen(function*() {
      const clock = yield* Layer.build(TestClock.layer())
      return { clock, gateways: yield* Effect.provide(Gateways.onTestClock, clock) }
    }))).id,
  /** A gateway on the TestClock of `testClockGateways` `id`, on `port`. */
  testClockGatewayStart: async (id: string, port: number) => {
    const { clock, gateways } = get<TestClockGateways>(id)
    const started = await open(Effect.provide(gateways.start({ port }), clock))
    return { id: started.id, ...started.value }
  },
  /** Moves that TestClock forward by `millis`. */
  testClockAdjust: (id: string, millis: number) => {
    const { clock, gateways } = get<TestClockGateways>(id)
    return Effect.runPromise(Effect.provide(gateways.adjust(millis), clock))
  },

  /** A scripted gateway (test/client/FakeGateway.ts). */
  fakeGatewayStart: async (options: { readonly heartbeatIntervalMs?: number } = {}) => {
    const { id, value } = await open(FakeGateway.start(options))
    return { id, url: value.url, did: value.did }
  },
  /** The next agent that registered at the fake gateway: its index (for `fakeSession*`) and DID. */
  fakeGatewayNextSession: async (id: string) => {
    const gateway = get<FakeGateway.FakeGateway>(id)
    const session = await Effect.runPromise(gateway.nextSession)
    const sessions = sessionsOf(id)
    sessions.push(session)
    return { index: sessions.length - 1, agentDid: session.agentDid }
  },
  /** An envelope signed by the fake gateway's own key. */
  fakeGatewaySign: (id: string, draft: Envelope.Draft<Envelope.Type>) =>
    Effect.runPromise(get<FakeGateway.FakeGateway>(id).sign(draft)),
  /** Sends a raw text frame to the agent of a session. */
  fakeSessionSend: (id: string, index: number, frame: string) => Effect.runPromise(sessionsOf(id)[index]!.send(frame)),
  /** The next frame the agent sent after registering. */
  fakeSessionNextReceived: (id: string, index: number) => Effect.runPromise(sessionsOf(id)[index]!.nextReceived),

  /** Gateway processes sharing one data folder (`Gateways.processes`). */
  processesStart: async () => (await open(Gateways.processes)).id,
  /** `aiconexus gateway` on `port` with the data folder of `processesId`; killed when stopped. */
  processStart: async (processesId: string, port: number) => {
    const { id, value } = await open(get<Effect.Success<typeof Gateways.processes>>(processesId).start(port))
    return { id, url: value.url, did: value.did }
  },
  /** SIGKILLs the gateway process; resolves when it has exited. */
  processKill: (id: string) => Effect.runPromise(get<Gateways.GatewayProcess>(id).kill),

  /** `Gateways.sendAsHostileAgent`: the code of the gateway's ERROR. */
  sendAsHostileAgent: (gateway: Gateways.TestGateway, frame: string) => Effect.runPromise(Gateways.sendAsHostileAgent(gateway, frame)),

  /** Closes what `id` names (a no-op when closed already). */
  stop: async (id: string) => {
    const resource = resources.get(id)
    resources.delete(id)
    fakeSessions.delete(id)
    await resource?.close()
  }
}

export type Api = typeof api

const fakeSessions = new Map<string, Array<FakeGateway.FakeSession>>()
const sessionsOf = (id: string) => {
  let sessions = fakeSessions.get(id)
  if (sessions === undefined) fakeSessions.set(id, sessions = [])
  return sessions
}
