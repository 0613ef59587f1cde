/**
 * The relay-only policy on each Node stack, before ICE: without a TURN server, or with one that
 * never answers (a UDP socket on loopback that reads and says nothing), `create` fails with a typed
 * RelayUnavailable saying why. (Refused credentials, from a real coturn: test/nat/Cone.test.ts.)
 */
import * as Dgram from "node:dgram"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { Transport } from "../../../src/webrtc/peer/Transport.ts"
import * as NodeDataChannelTransport from "../../../src/webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../../../src/webrtc/stacks/NodeWeriftTransport.ts"

/** A UDP socket on loopback that swallows everything; its port. */
const silentServer = Effect.acquireRelease(
  Effect.callback<Dgram.Socket>((resume) => {
    const socket = Dgram.createSocket("udp4")
    socket.bind(0, "127.0.0.1", () => resume(Effect.succeed(socket)))
  }),
  (socket) => Effect.sync(() => socket.close())
)

const stacks: ReadonlyArray<readonly [string, Transport["Service"]]> = [
  ["node-datachannel", NodeDataChannelTransport.make({ bindAddress: "127.0.0.1" })],
  ["werift", NodeWeriftTransport.make({ loopback: true })]
]

describe("relay-only policy before ICE", () => {
  for (const [name, transport] of stacks) {
    it.live(`${name}: no TURN server from the gateway → RelayUnavailable`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(transport.create({ iceServers: [{ urls: ["stun:127.0.0.1:3478"] }], iceTransportPolicy: "relay" }))
        assert.strictEqual(error._tag, "RelayUnavailable")
        assert.match(error.message, /the gateway sent no TURN server/)
      }).pipe(Effect.scoped))

    it.live(`${name}: a TURN server that never answers → RelayUnavailable (unreachable), within the check's deadline`, () =>
      Effect.gen(function*() {
        const server = yield* silentServer
        const url = `turn:127.0.0.1:${server.address().port}?transport=udp`
        const error = yield* Effect.flip(transport.create({ iceServers: [{ urls: [url], username: "1:x", credential: "y" }], iceTransportPolicy: "relay" }))
        assert.strictEqual(error._tag, "RelayUnavailable")
        assert.strictEqual(error.url, url)
        assert.match(error.message, /unreachable over UDP \(no answer within \d+ ms\)/)
      }).pipe(Effect.scoped), { timeout: 10_000 })

    it.live(`${name}: the default policy creates a connection without asking any TURN server`, () =>
      Effect.gen(function*() {
        const server = yield* silentServer
        let asked = false
        server.on("message", () => (asked = true))
        const peer = yield* transport.create({ iceServers: [{ urls: [`turn:127.0.0.1:${server.address().port}`], username: "1:x", credential: "y" }] })
        assert.isDefined(peer.pc)
        assert.isFalse(asked)
      }).pipe(Effect.scoped))
  }
})
