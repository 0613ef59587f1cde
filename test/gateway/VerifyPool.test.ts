/**
 * Signature checks on worker threads (`VerifyPool`): the pool on its own (every item answered
 * once, right, in the order asked; its threads end with its scope), and a gateway relaying
 * through it (one sender's frames delivered in the order sent, a bad signature among them still
 * refused and counted, the threads gone once the gateway's scope closes), and without threads.
 */
import { readdirSync, readFileSync } from "node:fs"
import { setFlagsFromString } from "node:v8"
import { runInNewContext } from "node:vm"
import { assert, describe, it } from "@effect/vitest"
import { Deferred, Effect, Exit, Layer, Scope } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as VerifyPoolModule from "../../src/gateway/VerifyPool.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { SDP } from "../fixtures/samples.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

/** Threads of this process named as the pool names its workers (Linux truncates names to 15 bytes). */
const verifyThreads = (): number =>
  readdirSync("/proc/self/task").filter((task) => {
    try {
      return readFileSync(`/proc/self/task/${task}/comm`, "utf8").trim() === "aiconexus-verif"
    } catch {
      return false // the thread ended while listing
    }
  }).length

/** The count of verify threads once `expected` of them run (a started thread takes its name as it begins), or after 10 s. */
const verifyThreadsOnce = (expected: number) =>
  Effect.gen(function*() {
    for (let waited = 0; waited < 10_000 && verifyThreads() !== expected; waited += 20) yield* Effect.sleep("20 millis")
    return verifyThreads()
  })

const text = (url: string) => Effect.promise(() => fetch(url).then((response) => response.text()))
const sample = (metrics: string, series: string) =>
  Number(new RegExp(`^${series.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1] ?? 0)

const unlimited = { perSecond: 100_000, burst: 100_000 }

/** Runs `use` with a gateway of `verifyWorkers` threads in a scope of its own, closed afterwards. */
const withGateway = <A, E>(verifyWorkers: number, use: () => Effect.Effect<A, E, Scope.Scope | Gateway.Gateway>) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(
      // "always": every check goes to the threads, however light the load (by default only once the main thread is busy).
      Gateway.layerMemory(testConfig({ verifyWorkers, verifyOffload: "always", sessionRate: unlimited, destinationRate: unlimited })),
      scope
    )
    const exit = yield* Effect.exit(Scope.provide(Effect.provide(use(), context), scope))
    yield* Scope.close(scope, Exit.void)
    return yield* exit
  })

/** `count` signed OFFERs from the first agent of a pair to the second, sent back to back; `bad`: the indexes sent with a broken signature. */
const burst = (count: number, bad: ReadonlySet<number>) =>
  Effect.gen(function*() {
    const gateway = yield* Gateway.Gateway
    const { alice, bob, a, b } = yield* RawClient.registeredPair(gateway.url, gateway.did)
    const frames: Array<string> = []
    for (let i = 0; i < count; i++) {
      const offer = yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
      frames.push(Envelope.encode(bad.has(i) ? { ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } } : offer))
    }
    for (const frame of frames) yield* a.send(frame)
    const received: Array<string> = []
    for (let i = 0; i < count - bad.size; i++) received.push(yield* b.next())
    return { frames, received, a, b, alice, bob, gateway }
  })

describe("VerifyPool", () => {
  it.live("answers every item once, right, in the order asked, on its threads; they end with its scope", () =>
    Effect.gen(function*() {
      const signer = yield* Identity.generate
      const ed25519 = NodeEd25519.make()
      const items = yield* Effect.forEach(Array.from({ length: 300 }, (_, i) => i), (i) =>
        Effect.gen(function*() {
          const data = new TextEncoder().encode(`message ${i}`)
          const signature = yield* ed25519.sign(signer.seed, data)
          // Every seventh signature is broken, every eleventh is for other bytes.
          if (i % 7 === 0) signature[5] = signature[5]! ^ 1
          return { data: i % 11 === 0 ? new TextEncoder().encode(`other ${i}`) : data, signature, valid: i % 7 !== 0 && i % 11 !== 0 }
        }))
      const scope = yield* Scope.make()
      const pool = yield* Scope.provide(VerifyPoolModule.make(3, "always"), scope)
      assert.strictEqual(pool.size, 3)
      const answers: Array<[number, boolean]> = []
      const done = yield* Deferred.make<void>()
      for (const [i, item] of items.entries()) {
        pool.verify(signer.publicKey, item.signature, item.data, {
          verified: (valid) => {
            answers.push([i, valid])
            if (answers.length === items.length) Deferred.doneUnsafe(done, Effect.void)
          }
        })
      }
      assert.strictEqual(answers.length, 0, "never answered synchronously")
      yield* Deferred.await(done).pipe(Effect.timeout("20 seconds"))
      const byItem = new Map(answers)
      assert.strictEqual(byItem.size, items.length, "each item answered once")
      assert.deepStrictEqual(items.map((_, i) => byItem.get(i)), items.map((item) => item.valid))
      assert.isAtLeast(verifyThreads(), 3)
      yield* Scope.close(scope, Exit.void)
      assert.strictEqual(pool.running(), 0)
      assert.strictEqual(verifyThreads(), 0)
    }))

  it.live("lets go of items once they are answered, while the queue still holds others", () =>
    Effect.gen(function*() {
      const signer = yield* Identity.generate
      const ed25519 = NodeEd25519.make()
      const data = new TextEncoder().encode("retained?")
      const signature = yield* ed25519.sign(signer.seed, data)
      // A full garbage collection, from a context of its own (the flag cannot be given to vitest's workers).
      setFlagsFromString("--expose-gc")
      const gc = runInNewContext("gc") as () => void
      const scope = yield* Scope.make()
      // One thread: it takes the first two batches (the items before 2 × MAX_BATCH) and answers them in order, while
      // the main thread checks queued items itself meanwhile; with this many items the queue does not run empty.
      const pool = yield* Scope.provide(VerifyPoolModule.make(1, "always"), scope)
      const count = 8000
      // Only weak references to the first batch's receivers: once it is answered, nothing of the pool's may hold them.
      const firstBatch: Array<WeakRef<object>> = []
      let answered = 0
      let backlog = -1
      let collected = -1
      const done = yield* Deferred.make<void>()
      for (let i = 0; i < count; i++) {
        const receiver = {
          verified: () => {
            answered++
            // The second batch's first answer: the first batch was answered in an earlier message from the thread.
            if (i === VerifyPoolModule.MAX_BATCH) {
              backlog = count - answered
              gc()
              collected = firstBatch.filter((ref) => ref.deref() === undefined).length
            }
            if (answered === count) Deferred.doneUnsafe(done, Effect.void)
          }
        }
        if (i < VerifyPoolModule.MAX_BATCH) firstBatch.push(new WeakRef(receiver))
        pool.verify(signer.publicKey, signature, data, receiver)
      }
      yield* Deferred.await(done).pipe(Effect.timeout("60 seconds"))
      yield* Scope.close(scope, Exit.void)
      assert.isAbove(backlog, 0, "the queue still held items when the first batch was looked at")
      assert.strictEqual(collected, firstBatch.length, "answered items are not kept by the queue")
    }))

  it.live("by default offloads only while the main thread is busy", () =>
    Effect.gen(function*() {
      const pool = yield* VerifyPoolModule.make(2, "busy")
      assert.isFalse(pool.offloading(), "an idle event loop verifies in place")
      // Keep the event loop busy over a few samples: the pool starts offloading.
      const until = Date.now() + 5 * VerifyPoolModule.SAMPLE_MS
      while (Date.now() < until) {
        const spin = Date.now() + 40
        while (Date.now() < spin) {
          // busy
        }
        yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      }
      assert.isTrue(pool.offloading(), "a busy event loop offloads")
      // Idle again for a few samples: back in place.
      yield* Effect.sleep(`${4 * VerifyPoolModule.SAMPLE_MS} millis`)
      assert.isFalse(pool.offloading(), "offloading stops once the main thread is quiet")
    }))
})

describe("gateway relay through the VerifyPool", () => {
  it.live("delivers one sender's frames in the order sent, a bad signature among them refused with INVALID_SIGNATURE and counted", () =>
    withGateway(2, () =>
      Effect.gen(function*() {
        assert.strictEqual(yield* verifyThreadsOnce(2), 2)
        const bad = new Set([37, 38, 250])
        const { a, frames, gateway, received } = yield* burst(400, bad)
        assert.deepStrictEqual(received, frames.filter((_, i) => !bad.has(i)))
        const refused: Array<string | undefined> = []
        for (let i = 0; i < bad.size; i++) {
          const error = yield* a.nextOfType("ERROR")
          assert.strictEqual(error.payload.code, "INVALID_SIGNATURE")
          refused.push(error.correlation_id)
        }
        assert.deepStrictEqual(refused, [...bad].map((i) => (JSON.parse(frames[i]!) as Envelope.Envelope).id))
        const metrics = yield* text(`${gateway.httpUrl}/metrics`)
        assert.strictEqual(sample(metrics, "aiconexus_gateway_frames_rejected_total{code=\"INVALID_SIGNATURE\"}"), 3)
        assert.strictEqual(sample(metrics, "aiconexus_gateway_frames_relayed_total{type=\"OFFER\"}"), 397)
      })).pipe(Effect.andThen(Effect.sync(() => assert.strictEqual(verifyThreads(), 0, "the threads end with the gateway")))))

  it.live("relays the same way with no threads (AICONEXUS_VERIFY_WORKERS=0)", () =>
    withGateway(0, () =>
      Effect.gen(function*() {
        assert.strictEqual(verifyThreads(), 0)
        const bad = new Set([5])
        const { a, frames, received } = yield* burst(200, bad)
        assert.deepStrictEqual(received, frames.filter((_, i) => !bad.has(i)))
        assert.strictEqual((yield* a.nextOfType("ERROR")).payload.code, "INVALID_SIGNATURE")
      })))

  it.live("answers a PING sent after relayed frames only once their checks came back (replies in the order of the frames)", () =>
    withGateway(2, () =>
      Effect.gen(function*() {
        const gateway = yield* Gateway.Gateway
        const { alice, bob, a } = yield* RawClient.registeredPair(gateway.url, gateway.did)
        const broken: Array<string> = []
        for (let i = 0; i < 20; i++) {
          const offer = yield* Envelope.make(alice, { type: "OFFER", to: bob.did, payload: { connection_id: crypto.randomUUID(), sdp: SDP } })
          broken.push(Envelope.encode({ ...offer, payload: { ...offer.payload, sdp: SDP.replace("actpass", "active") } }))
        }
        const ping = yield* Envelope.make(alice, { type: "PING", to: gateway.did, payload: { sequence: 1 } })
        for (const frame of broken) yield* a.send(frame)
        yield* a.send(Envelope.encode(ping))
        // Twenty refusals (within the ERROR reply rate), then the PONG, on the same socket.
        const replies: Array<string> = []
        for (let i = 0; i < 21; i++) replies.push((yield* a.nextEnvelope()).type)
        assert.deepStrictEqual(replies, [...Array.from({ length: 20 }, () => "ERROR"), "PONG"])
      })))
})
