/**
 * One scenario for every pairing of the browser tests: an agent in a Chromium page or in Node,
 * behind the same operations, so "browser ↔ node-datachannel", "node-datachannel ↔ browser" and
 * "browser ↔ browser" run the same checks.
 */
import { assert } from "@effect/vitest"
import { Effect, Option, Scope } from "effect"
import type { Page } from "playwright-core"
import type { PeerSession } from "../../src/agent/Agent.ts"
import type { Did } from "../../src/protocol/Did.ts"
import * as Sdp from "../../src/protocol/Sdp.ts"
import { call, type nodeAgent } from "./chromium.ts"
import { bulkRoundTrip, serveSession } from "./peerBehaviour.ts"

/** An agent of a scenario. */
export interface Side {
  readonly label: string
  readonly did: string
  readonly discover: (capability: string) => Effect.Effect<ReadonlyArray<string>>
  readonly connect: (remote: string) => Effect.Effect<number>
  readonly accepted: (remote: string) => Effect.Effect<boolean>
  readonly intent: (remote: string, task: string) => Effect.Effect<void>
  readonly intents: Effect.Effect<ReadonlyArray<unknown>>
  readonly request: (remote: string, args: Record<string, unknown>) => Effect.Effect<unknown>
  readonly bulk: (remote: string, bytes: number) => Effect.Effect<{ readonly same: boolean; readonly received: number; readonly fragmentBytes: number }>
  readonly fingerprints: (remote: string) => Effect.Effect<{ readonly presented: unknown; readonly announced: unknown }>
}

/** The agent `id` of the harness in `page` (started already, with DID `did`). */
export const browserSide = (page: Page, id: string, did: string): Side => ({
  label: `browser ${id}`,
  did,
  discover: (capability) => call(page, "discover", id, capability),
  connect: (remote) => call(page, "connect", id, remote),
  accepted: (remote) => call(page, "accepted", id, remote),
  intent: (remote, task) => call(page, "intent", id, remote, task),
  intents: call(page, "intents", id),
  request: (remote, args) => call(page, "request", id, remote, "echo", args),
  bulk: (remote, bytes) => call(page, "bulk", id, remote, bytes),
  fingerprints: (remote) => call(page, "fingerprints", id, remote)
})

/** A Node agent (`nodeAgent`), its sessions kept in `scope`. */
export const nodeSide = (node: Effect.Success<ReturnType<typeof nodeAgent>>, label: string, scope: Scope.Scope): Side => {
  const session = (remote: string): Effect.Effect<PeerSession> =>
    Effect.sync(() => Option.getOrThrow(Option.fromUndefinedOr(node.sessions.get(remote))))
  return {
    label,
    did: node.agent.did,
    discover: (capability) => Effect.orDie(Effect.map(node.agent.discover({ capability }), (agents) => agents.map((agent) => agent.did))),
    connect: (remote) =>
      Effect.gen(function*() {
        const started = performance.now()
        const opened = yield* Effect.orDie(node.agent.connect(remote as Did)).pipe(Scope.provide(scope))
        const ms = performance.now() - started
        node.sessions.set(remote, opened)
        yield* serveSession(opened, node.intents).pipe(Scope.provide(scope))
        return ms
      }),
    accepted: (remote) =>
      Effect.gen(function*() {
        for (let i = 0; i < 300 && !node.sessions.has(remote); i++) yield* Effect.sleep("50 millis")
        return node.sessions.has(remote)
      }),
    intent: (remote, task) => Effect.orDie(Effect.flatMap(session(remote), (s) => s.intent({ task }))),
    intents: Effect.sync(() => node.intents),
    request: (remote, args) => Effect.orDie(Effect.flatMap(session(remote), (s) => s.request("echo", args as never))),
    bulk: (remote, bytes) => Effect.orDie(Effect.flatMap(session(remote), (s) => bulkRoundTrip(s, bytes))),
    fingerprints: (remote) =>
      Effect.orDie(Effect.gen(function*() {
        const peer = (yield* session(remote)).link.peer
        const announced = (yield* Sdp.parseSdp(yield* peer.remoteSdp)).fingerprint
        return { presented: peer.remoteFingerprint() ?? null, announced }
      }))
  }
}

const eventually = <A>(check: Effect.Effect<A>, holds: (a: A) => boolean) =>
  Effect.gen(function*() {
    for (let i = 0; i < 200; i++) {
      const value = yield* check
      if (holds(value)) return value
      yield* Effect.sleep("50 millis")
    }
    return yield* check
  })

/**
 * `offerer` discovers and connects to `answerer`; both send an INTENT, call `echo` and send a
 * 1 MiB framed payload each way; both see the fingerprint they were announced in DTLS.
 */
export const exercise = (offerer: Side, answerer: Side) =>
  Effect.gen(function*() {
    const found = yield* offerer.discover("echo")
    assert.include(found, answerer.did, `${offerer.label} discovers ${answerer.label}`)
    yield* offerer.connect(answerer.did)
    assert.isTrue(yield* answerer.accepted(offerer.did), `${answerer.label} accepts ${offerer.label}`)

    yield* offerer.intent(answerer.did, `from ${offerer.label}`)
    yield* answerer.intent(offerer.did, `from ${answerer.label}`)
    const hasTask = (task: string) => (intents: ReadonlyArray<unknown>) => intents.some((i) => (i as { task?: string }).task === task)
    assert.isTrue(hasTask(`from ${offerer.label}`)(yield* eventually(answerer.intents, hasTask(`from ${offerer.label}`))))
    assert.isTrue(hasTask(`from ${answerer.label}`)(yield* eventually(offerer.intents, hasTask(`from ${answerer.label}`))))

    assert.deepStrictEqual(yield* offerer.request(answerer.did, { n: 1, text: "ping" }), { by: answerer.label, echoed: { n: 1, text: "ping" } })
    assert.deepStrictEqual(yield* answerer.request(offerer.did, { n: 2 }), { by: offerer.label, echoed: { n: 2 } })

    for (const [from, to] of [[offerer, answerer], [answerer, offerer]] as const) {
      const bulk = yield* from.bulk(to.did, 1024 * 1024)
      assert.isTrue(bulk.same, `1 MiB from ${from.label} to ${to.label} and back`)
      assert.strictEqual(bulk.received, 1024 * 1024)
      assert.isAtMost(bulk.fragmentBytes, 256 * 1024)
    }

    for (const [side, remote] of [[offerer, answerer], [answerer, offerer]] as const) {
      const { announced, presented } = yield* side.fingerprints(remote.did)
      assert.deepStrictEqual(presented, announced, `${side.label}: the certificate in DTLS is the signed SDP's`)
    }
  })
