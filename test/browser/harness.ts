/**
 * The page side of the Chromium tests and benchmark, bundled for the browser: agents in the tab, driven through
 * `globalThis.harness` by `page.evaluate` (see `chromium.ts`). Each call returns plain JSON.
 */
import { Context, Effect, Exit, Layer, Option, Scope, Stream } from "effect"
import type { PeerSession } from "../../src/agent/Agent.ts"
import { Agent, BrowserAgent, BrowserIdentity, BrowserKnownGateways, BrowserStorage, CandidatePolicy, GatewayClient, KnownGateways } from "../../src/browser/index.ts"
import * as Sdp from "../../src/protocol/Sdp.ts"
import { bulkRoundTrip, echo, serveSession, sinkThroughput } from "./peerBehaviour.ts"
// Chromium's own RTCPeerConnection, without our code: `globalThis.rawPeer`, the benchmark's baseline.
import "./rawPeer.ts"

interface Running {
  readonly agent: Agent["Service"]
  readonly scope: Scope.Closeable
  readonly sessions: Map<string, PeerSession>
  readonly intents: Array<unknown>
}
const running = new Map<string, Running>()

const get = (id: string): Running => {
  const found = running.get(id)
  if (found === undefined) throw new Error(`no agent ${id}`)
  return found
}
const session = (id: string, remote: string): PeerSession => {
  const found = get(id).sessions.get(remote)
  if (found === undefined) throw new Error(`agent ${id} has no session with ${remote}`)
  return found
}
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromiseExit(effect).then((exit) => {
    if (Exit.isSuccess(exit)) return exit.value
    throw new Error(String(exit.cause))
  })

const harness = {
  /** Starts an agent named `id` in this tab; returns its DID. */
  start: (id: string, options: { readonly url: string; readonly database?: string; readonly connectTimeoutMs?: number }) =>
    run(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const context = yield* Layer.buildWithScope(BrowserAgent.layer({
        urls: [options.url],
        name: id,
        database: options.database ?? `aiconexus-${id}`,
        serve: [echo(`browser ${id}`)],
        candidatePolicy: CandidatePolicy.allowAll,
        ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs })
      }), scope)
      const agent = Context.get(context, Agent)
      // Registered before it is used: `discover` from another agent finds it from now on.
      yield* Context.get(context, GatewayClient).session
      const entry: Running = { agent, scope, sessions: new Map(), intents: [] }
      running.set(id, entry)
      yield* Effect.forkIn(Stream.runForEach(agent.sessions, (accepted) =>
        Effect.andThen(Effect.sync(() => entry.sessions.set(accepted.remote, accepted)), Scope.provide(serveSession(accepted, entry.intents), scope))), scope)
      return agent.did
    })),
  /** DIDs of the agents serving `capability`. */
  discover: (id: string, capability: string) =>
    run(Effect.map(get(id).agent.discover({ capability }), (agents) => agents.map((agent) => agent.did))),
  /** Opens a session with `remote`; returns how long it took (ms). */
  connect: (id: string, remote: string) =>
    run(Effect.gen(function*() {
      const entry = get(id)
      const started = performance.now()
      const opened = yield* entry.agent.connect(remote as never).pipe(Scope.provide(entry.scope))
      const ms = performance.now() - started
      entry.sessions.set(remote, opened)
      yield* serveSession(opened, entry.intents).pipe(Scope.provide(entry.scope))
      return ms
    })),
  /** Waits until a session with `remote` exists (one the remote opened). */
  accepted: async (id: string, remote: string) => {
    for (let i = 0; i < 300 && !get(id).sessions.has(remote); i++) await new Promise((resolve) => setTimeout(resolve, 50))
    return get(id).sessions.has(remote)
  },
  intent: (id: string, remote: string, task: string) => run(session(id, remote).intent({ task })),
  intents: (id: string) => get(id).intents,
  request: (id: string, remote: string, capability: string, args: Record<string, unknown>) =>
    run(session(id, remote).request(capability, args as never)),
  bulk: (id: string, remote: string, bytes: number) => run(bulkRoundTrip(session(id, remote), bytes)),
  /** The fingerprint the peer presented in DTLS and the one its signed SDP announced. */
  fingerprints: (id: string, remote: string) =>
    run(Effect.gen(function*() {
      const peer = session(id, remote).link.peer
      let presented = peer.remoteFingerprint()
      for (let i = 0; i < 100 && presented === undefined; i++) {
        yield* Effect.sleep("20 millis")
        presented = peer.remoteFingerprint()
      }
      const announced = (yield* Sdp.parseSdp(yield* peer.remoteSdp)).fingerprint
      return { presented: presented ?? null, announced }
    })),
  /** The selected candidate pair of the session with `remote`, from Chromium's stats. */
  selectedPair: (id: string, remote: string) => run(Effect.map(session(id, remote).link.peer.stats, (stats) => stats.selectedPair ?? null)),
  /** Sends `total` bytes over a `sink` channel; MB/s. */
  sink: (id: string, remote: string, total: number) => run(sinkThroughput(session(id, remote), total)),
  /** Closes the session with `remote`. */
  disconnect: (id: string, remote: string) =>
    run(Effect.suspend(() => {
      const found = get(id).sessions.get(remote)
      get(id).sessions.delete(remote)
      return found === undefined ? Effect.void : found.close
    })),
  /** The DID of the identity stored in `database` (made and stored when there is none), without starting an agent. */
  identity: (database: string) =>
    run(Effect.map(BrowserIdentity.loadOrCreate(), (identity) => identity.did).pipe(Effect.provide(BrowserStorage.layer(database)))),
  /** What the stored identity's private key allows, and whether exporting it fails. */
  storedKey: (database: string) =>
    run(Effect.gen(function*() {
      const stored = (yield* (yield* BrowserStorage).get("identities", "agent")) as { readonly privateKey: CryptoKey }
      const exported = yield* Effect.tryPromise(() => globalThis.crypto.subtle.exportKey("pkcs8", stored.privateKey)).pipe(Effect.match({ onFailure: () => false, onSuccess: () => true }))
      return { algorithm: stored.privateKey.algorithm.name, extractable: stored.privateKey.extractable, usages: stored.privateKey.usages, exported }
    }).pipe(Effect.provide(BrowserStorage.layer(database)))),
  /** The gateway DID pinned for `url` in `database`. */
  pinned: (database: string, url: string) =>
    run(Effect.gen(function*() {
      return Option.getOrNull(yield* (yield* KnownGateways).get(url))
    }).pipe(Effect.provide(BrowserKnownGateways.layer.pipe(Layer.provide(BrowserStorage.layer(database)))))),
  stop: (id: string) => run(Effect.suspend(() => {
    const entry = running.get(id)
    running.delete(id)
    return entry === undefined ? Effect.void : Scope.close(entry.scope, Exit.void)
  }))
}

declare global {
  // eslint-disable-next-line no-var
  var harness: typeof import("./harness.ts")["default"]
}
globalThis.harness = harness
export default harness
