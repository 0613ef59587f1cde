import { assert, describe, it } from "@effect/vitest"
import { Effect, Fiber, Option, Stream } from "effect"
import { agentOnHub, allTransports, hub } from "../fixtures.ts"

describe.each(allTransports)("Connector over %s (in-memory signaling)", (_name, makeTransport) => {
  it.live("two agents connect, open ioap and an application channel, and exchange text and binary both ways", () =>
    Effect.gen(function*() {
      const transport = yield* makeTransport
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const accepted = yield* bob.connector.incoming.pipe(Stream.runHead, Effect.forkChild)
      const link = yield* alice.connector.connect(bob.identity.did)
      const remote = Option.getOrThrow(yield* Fiber.join(accepted))
      assert.strictEqual(link.control.label, "ioap")
      assert.strictEqual(link.control.protocol, "ioap.v1")
      assert.strictEqual(remote.remote, alice.identity.did)
      assert.strictEqual(remote.connectionId, link.connectionId)
      // control channel both ways, text and binary
      const atBob = yield* remote.control.messages.pipe(Stream.take(2), Stream.runCollect, Effect.forkChild)
      yield* link.control.send("hello bob")
      yield* link.control.send(new Uint8Array([1, 2, 3, 250]))
      const received = [...(yield* Fiber.join(atBob))]
      assert.strictEqual(received[0], "hello bob")
      assert.deepStrictEqual(received[1], new Uint8Array([1, 2, 3, 250]))
      const atAlice = yield* link.control.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* remote.control.send("hello alice")
      assert.deepStrictEqual([...(yield* Fiber.join(atAlice))], ["hello alice"])
      // an application channel opened by alice after connect
      const remoteApp = yield* remote.peer.remoteChannels.pipe(Stream.runHead, Effect.forkChild)
      const app = yield* link.peer.createDataChannel({ label: "app", ordered: true })
      yield* app.opened
      const bobApp = Option.getOrThrow(yield* Fiber.join(remoteApp))
      assert.strictEqual(bobApp.label, "app")
      const appMessages = yield* bobApp.messages.pipe(Stream.take(1), Stream.runCollect, Effect.forkChild)
      yield* app.send(new Uint8Array(1000).fill(7))
      assert.deepStrictEqual([...(yield* Fiber.join(appMessages))][0], new Uint8Array(1000).fill(7))
      assert.isTrue(yield* link.peer.isConnected)
      const stats = yield* link.peer.stats
      assert.strictEqual(stats.channels.find((c) => c.label === "ioap")?.messagesSent, 2)
      yield* link.close
      yield* remote.ended
    }).pipe(Effect.scoped), { timeout: 30_000 })
})
