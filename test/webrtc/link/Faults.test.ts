/**
 * Faults the mock network produces on demand, and the candidate policy.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Metric, Stream } from "effect"
import * as CandidatePolicy from "../../../src/webrtc/peer/CandidatePolicy.ts"
import * as MockTransport from "../../../src/webrtc/stacks/MockTransport.ts"
import * as PeerMetrics from "../../../src/webrtc/peer/PeerMetrics.ts"
import { agentOnHub, allTransports, connectPair, hub } from "../fixtures.ts"

const mock = Effect.gen(function*() {
  const network = yield* MockTransport.makeNetwork
  return { network, transport: MockTransport.layer(network) }
})

describe("mock network faults", () => {
  it.live("ICE failure: connect fails with a typed ConnectFailed, after its retries", () =>
    Effect.gen(function*() {
      const { network, transport } = yield* mock
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      network.failIce = true
      const error = yield* Effect.flip(alice.connector.connect(bob.identity.did))
      assert.strictEqual(error._tag, "ConnectFailed")
      // Three attempts (the default), each with a new connection id: two retries, one failure.
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectRetries)).count, 2)
      assert.strictEqual((yield* Metric.value(PeerMetrics.connectErrors("ConnectFailed"))).count, 1)
    }).pipe(Effect.scoped, Effect.provideService(Metric.MetricRegistry, new Map())))

  it.live("a delayed network still connects; past the connect deadline it is a ConnectTimeout", () =>
    Effect.gen(function*() {
      const { network, transport } = yield* mock
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 300 })
      const bob = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 300 })
      network.delayMs = 50
      const { offerer } = yield* connectPair(alice, bob)
      assert.isTrue(yield* offerer.peer.isConnected)
      network.delayMs = 1_000
      const error = yield* Effect.flip(alice.connector.connect(bob.identity.did))
      assert.strictEqual(error._tag, "ConnectTimeout")
    }).pipe(Effect.scoped))

  it.live("a vanished peer: the other side goes disconnected, then failed, and its link ends", () =>
    Effect.gen(function*() {
      const { network, transport } = yield* mock
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const { answerer, offerer } = yield* connectPair(alice, bob)
      const states = yield* offerer.peer.connection.changes.pipe(
        Stream.takeUntil((s) => s === "failed"),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.sleep("10 millis")
      network.vanish(offerer.peer.remoteFingerprint()!.value)
      yield* offerer.ended
      assert.deepStrictEqual([...(yield* Fiber.join(states))], ["connected", "disconnected", "failed"])
      void answerer
    }).pipe(Effect.scoped))

  it.live("pending inbound offers are limited per peer: past the limit the caller is refused with RATE_LIMITED", () =>
    Effect.gen(function*() {
      const { network, transport } = yield* mock
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport, { connectTimeoutMs: 2_000 })
      const bob = yield* agentOnHub(signalingHub, transport, { maxPendingOffersPerPeer: 2, connectTimeoutMs: 2_000 })
      // Slow ICE keeps bob's answers pending.
      network.delayMs = 500
      const results = yield* Effect.all(
        [1, 2, 3].map(() => Effect.result(alice.connector.connect(bob.identity.did))),
        { concurrency: "unbounded" }
      )
      const refused = results.filter((r) => r._tag === "Failure" && r.failure._tag === "ConnectionRefused")
      assert.strictEqual(refused.length, 1)
      assert.strictEqual(refused[0]!._tag === "Failure" && refused[0]!.failure._tag === "ConnectionRefused" ? refused[0]!.failure.code : "", "RATE_LIMITED")
      assert.strictEqual(results.filter((r) => r._tag === "Success").length, 2)
    }).pipe(Effect.scoped), { timeout: 20_000 })
})

describe("candidate policy", () => {
  const line = (address: string) => `candidate:1 1 udp 2130706431 ${address} 9999 typ host`
  it.each([
    ["127.0.0.1", "loopback"],
    ["::1", "loopback"],
    ["169.254.10.1", "link-local"],
    ["fe80::1", "link-local"],
    ["4e5c1f3a-1234-4b5c-9d6e-0123456789ab.local", "mdns"],
    ["10.1.2.3", "private"],
    ["172.20.0.1", "private"],
    ["192.168.1.9", "private"],
    ["fd00::2", "private"],
    ["203.0.113.7", "public"],
    ["2001:db8::1", "public"]
  ] as const)("%s is %s", (address, kind) => {
    assert.strictEqual(CandidatePolicy.addressKind(address), kind)
  })

  it("by default refuses loopback and link-local, accepts the rest; the end marker always; junk never", () => {
    assert.isFalse(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, line("127.0.0.1")))
    assert.isFalse(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, line("169.254.1.1")))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, line("192.168.1.9")))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, line("203.0.113.7")))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, ""))
    assert.isFalse(CandidatePolicy.accepts(CandidatePolicy.allowAll, "candidate:nonsense"))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.allowAll, line("127.0.0.1")))
  })
})

describe.each(allTransports)("simultaneous offers on %s", (_name, makeTransport) => {
  it.live("with onePerPeer, both sides end up on the one connection offered by the lower DID", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const options = { onePerPeer: true }
      const alice = yield* agentOnHub(signalingHub, transport, options)
      const bob = yield* agentOnHub(signalingHub, transport, options)
      const [a, b] = yield* Effect.all([alice.connector.connect(bob.identity.did), bob.connector.connect(alice.identity.did)], { concurrency: 2 })
      assert.strictEqual(a.connectionId, b.connectionId)
      const lower = alice.identity.did < bob.identity.did ? a : b
      assert.strictEqual(lower.role, "offerer")
      assert.strictEqual((lower === a ? b : a).role, "answerer")
      const arriving = yield* Effect.forkChild(b.control.messages.pipe(Stream.runHead))
      yield* a.control.send("one connection")
      assert.deepStrictEqual((yield* Fiber.join(arriving))._tag, "Some")
    }).pipe(Effect.scoped), { timeout: 20_000 })

  it.live("without it, simultaneous offers make two connections", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const [a, b] = yield* Effect.all([alice.connector.connect(bob.identity.did), bob.connector.connect(alice.identity.did)], { concurrency: 2 })
      assert.notStrictEqual(a.connectionId, b.connectionId)
    }).pipe(Effect.scoped), { timeout: 20_000 })
})
