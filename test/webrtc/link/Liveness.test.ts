import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import * as Gateway from "../../../src/gateway/Gateway.ts"
import * as Envelope from "../../../src/protocol/Envelope.ts"
import * as Identity from "../../../src/protocol/Identity.ts"
import * as EnvelopeChannel from "../../../src/webrtc/link/EnvelopeChannel.ts"
import * as MockTransport from "../../../src/webrtc/stacks/MockTransport.ts"
import { testConfig } from "../../gateway/fixtures.ts"
import { agentOnGateway, agentOnHub, connectPair, hub, realTransports } from "../fixtures.ts"

const ROOT = new URL("../../..", import.meta.url).pathname

describe("control channel", () => {
  it.live("carries signed envelopes both ways, answers PING itself, and refuses what the peer did not sign", () =>
    Effect.gen(function*() {
      const network = yield* MockTransport.makeNetwork
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, MockTransport.layer(network))
      const bob = yield* agentOnHub(signalingHub, MockTransport.layer(network))
      const { answerer, offerer } = yield* connectPair(alice, bob)
      const ours = yield* EnvelopeChannel.make(offerer, alice.identity, { pingIntervalMs: 50 })
      const theirs = yield* EnvelopeChannel.make(answerer, bob.identity, { pingIntervalMs: 50 })
      const arriving = yield* Effect.forkChild(theirs.envelopes.pipe(Stream.runHead))
      const rejected = yield* Effect.forkChild(theirs.rejected.pipe(Stream.runHead))
      yield* Effect.sleep("120 millis") // a few PINGs go both ways, and are not surfaced
      // Something signed by a third party on alice's channel is refused.
      const mallory = yield* Identity.generate
      const forged = yield* Envelope.make(mallory, { type: "INTENT", to: bob.identity.did, payload: { query: "forged" } })
      yield* offerer.control.send(Envelope.encode(forged))
      yield* ours.send({ type: "INTENT", payload: { query: "hello over ioap" } })
      const envelope = Option.getOrThrow(yield* Fiber.join(arriving)).envelope
      assert.strictEqual(envelope.type, "INTENT")
      assert.strictEqual(envelope.from, alice.identity.did)
      assert.deepStrictEqual(envelope.payload, { query: "hello over ioap" })
      assert.strictEqual(Option.getOrThrow(yield* Fiber.join(rejected)).code, "UNAUTHORIZED")
      assert.strictEqual(yield* offerer.peer.connection.state, "connected")
    }).pipe(Effect.scoped))
})

describe("liveness", () => {
  it.live("a peer process killed with SIGKILL: the other side goes disconnected, then failed, by the PING deadline", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const child = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(process.execPath, ["test/webrtc/peerProcess.ts", gateway.url], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const lines = yield* Effect.sync(() => {
        const seen: Array<string> = []
        child.stdout!.on("data", (chunk: Buffer) => seen.push(...chunk.toString().split("\n").filter((l) => l !== "")))
        return seen
      })
      const waitFor = (prefix: string) =>
        Effect.gen(function*() {
          while (!lines.some((l) => l.startsWith(prefix))) yield* Effect.sleep("20 millis")
          return lines.find((l) => l.startsWith(prefix))!
        }).pipe(Effect.timeout("20 seconds"))
      const did = (yield* waitFor("ready ")).slice("ready ".length)
      const alice = yield* agentOnGateway(gateway.url, realTransports[0]![1])
      const link = yield* alice.connector.connect(did as never)
      yield* EnvelopeChannel.make(link, alice.identity, { pingIntervalMs: 100, livenessTimeoutMs: 1_000 })
      yield* waitFor("connected")
      const states = yield* link.peer.connection.changes.pipe(
        Stream.takeUntil((s) => s === "failed"),
        Stream.runCollect,
        Effect.forkChild
      )
      yield* Effect.sleep("300 millis")
      child.kill("SIGKILL")
      const seen = [...(yield* Fiber.join(states).pipe(Effect.timeout("10 seconds")))]
      assert.deepStrictEqual(seen.slice(-2), ["disconnected", "failed"])
      assert.strictEqual(seen[0], "connected")
      yield* link.ended
    }).pipe(Effect.scoped), { timeout: 40_000 })
})
