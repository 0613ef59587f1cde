import { spawn } from "node:child_process"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Gateway from "../../../src/gateway/Gateway.ts"
import { BUFFER_HIGH_WATER } from "../../../src/webrtc/peer/DataChannel.ts"
import { testConfig } from "../../gateway/fixtures.ts"
import { agentOnGateway, realTransports } from "../fixtures.ts"

const ROOT = new URL("../../..", import.meta.url).pathname
const MESSAGE = 60 * 1024

// The sender on each real stack (the frozen receiver is a werift agent in a child process): send
// checks room against a bound of the stack's buffered amount, which must still hold it there.
describe.each(realTransports)("backpressure, sending on %s", (_name, transport) => {
  it.live("a receiver that stops reading makes send wait: the stack's buffer stays bounded, then everything arrives", () =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const output: Array<string> = []
      yield* Effect.acquireRelease(
        Effect.sync(() => {
          const child = spawn(process.execPath, ["test/webrtc/slowPeer.ts", gateway.url, "3000"], { cwd: ROOT, stdio: ["ignore", "pipe", "inherit"] })
          child.stdout.on("data", (chunk: Buffer) => output.push(...chunk.toString().split("\n").filter((l) => l !== "")))
          return child
        }),
        (child) => Effect.sync(() => child.kill("SIGKILL"))
      )
      const waitFor = (prefix: string) =>
        Effect.gen(function*() {
          while (!output.some((l) => l.startsWith(prefix))) yield* Effect.sleep("20 millis")
          return output.find((l) => l.startsWith(prefix))!
        }).pipe(Effect.timeout("20 seconds"))
      const did = (yield* waitFor("ready ")).slice("ready ".length)
      const alice = yield* agentOnGateway(gateway.url, transport)
      const link = yield* alice.connector.connect(did as never)
      const bulk = yield* link.peer.createDataChannel({ label: "bulk" })
      yield* bulk.opened
      yield* waitFor("blocking")
      // Send while the receiver is frozen: each send returns only once the buffer allows.
      let maxBuffered = 0
      let sent = 0
      const total = 24 * 1024 * 1024
      while (sent < total && !output.includes("reading")) {
        yield* bulk.send(new Uint8Array(MESSAGE))
        sent += MESSAGE
        maxBuffered = Math.max(maxBuffered, bulk.bufferedAmount())
      }
      // The receiver was frozen the whole time we sent: far less than `total` went out, and the
      // stack never held more than the high-water mark plus one message.
      assert.isBelow(sent, total)
      assert.isAtMost(maxBuffered, BUFFER_HIGH_WATER + MESSAGE)
      // Once it reads again, what was sent arrives.
      yield* waitFor("reading")
      while (!output.some((l) => l.startsWith("received ") && Number(l.slice(9)) >= sent - MESSAGE)) {
        yield* Effect.sleep("50 millis")
      }
    }).pipe(Effect.scoped, Effect.timeout("40 seconds")), { timeout: 60_000 })
})
