/**
 * `FakeGateway.ts` for the chromium project: the same scripted gateway, run in Node
 * (test/client/nodeSide.ts); the test in the browser drives it through browser commands.
 */
import { Effect, type Scope } from "effect"
import type * as Envelope from "../../src/protocol/Envelope.ts"
import type { FakeGateway, FakeSession } from "./FakeGateway.ts"
import { acquire, call } from "./fromBrowser.ts"

export type { FakeGateway, FakeSession }

/** Starts a fake gateway on a random loopback port (in Node); it stops with the scope. */
export const start = (options: { readonly heartbeatIntervalMs?: number } = {}): Effect.Effect<FakeGateway, never, Scope.Scope> =>
  Effect.map(acquire(call("fakeGatewayStart", options)), ({ id, url, did }) => ({
    url,
    did,
    sign: <T extends Envelope.Type>(draft: Envelope.Draft<T>) =>
      call("fakeGatewaySign", id, draft as Envelope.Draft<Envelope.Type>) as Effect.Effect<Envelope.Envelope<T>>,
    nextSession: Effect.map(call("fakeGatewayNextSession", id), ({ index, agentDid }): FakeSession => ({
      agentDid,
      send: (frame) => call("fakeSessionSend", id, index, frame),
      nextReceived: call("fakeSessionNextReceived", id, index)
    }))
  }))
