/**
 * NodeAutoTransport's choice of stack from what the TURN servers answered (the answers are given
 * here; test/nat/UdpBlocked.test.ts runs the same choice against a real coturn behind a real
 * UDP block), NodeTurnCheck's URL parsing and reasons, and the path labels of the metrics.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import type { IceServer } from "../../../src/protocol/Envelope.ts"
import * as PeerMetrics from "../../../src/webrtc/peer/PeerMetrics.ts"
import * as NodeAutoTransport from "../../../src/webrtc/stacks/NodeAutoTransport.ts"
import * as NodeTurnCheck from "../../../src/webrtc/stacks/NodeTurnCheck.ts"

const UDP = "turn:203.0.113.1:3478?transport=udp"
const TCP = "turn:203.0.113.1:3478?transport=tcp"
const servers = (...urls: Array<string>): Array<IceServer> => [
  { urls: ["stun:203.0.113.1:3478"] },
  { urls, username: "1700000000:did:key:z6Mk", credential: "c2VjcmV0" }
]

type Answer = NodeTurnCheck.TurnCheckResult
const allocated: Answer = { _tag: "Allocated" }
const refused: Answer = { _tag: "Refused", code: 401, reason: "Unauthorized" }
const silent: Answer = { _tag: "Unreachable", reason: "no answer within 1500 ms" }

/** The choice when the servers answer as given; also which servers were asked. */
const choose = (list: Array<IceServer>, answers: Record<string, Answer>, policy: "all" | "relay" = "all") =>
  Effect.gen(function*() {
    const asked: Array<string> = []
    const result = yield* NodeAutoTransport.choose({ iceServers: list, iceTransportPolicy: policy }, (server) =>
      Effect.sync(() => {
        asked.push(server.url)
        return answers[server.url]!
      })).pipe(Effect.result)
    return { result, asked }
  })

describe("NodeAutoTransport.choose", () => {
  it.effect("without a TURN server over TCP: node-datachannel, nothing asked", () =>
    Effect.gen(function*() {
      const { asked, result } = yield* choose(servers(UDP), {})
      assert.strictEqual(result._tag === "Success" && result.success.stack, "node-datachannel")
      assert.deepStrictEqual(asked, [])
    }))

  it.effect("UDP answers (granted or refused): node-datachannel, TCP not asked", () =>
    Effect.gen(function*() {
      for (const answer of [allocated, refused]) {
        const { asked, result } = yield* choose(servers(UDP, TCP), { [UDP]: answer })
        assert.strictEqual(result._tag === "Success" && result.success.stack, "node-datachannel")
        assert.deepStrictEqual(asked, [UDP])
      }
    }))

  it.effect("UDP silent, TCP grants: werift with that TURN server", () =>
    Effect.gen(function*() {
      const { result } = yield* choose(servers(UDP, TCP), { [UDP]: silent, [TCP]: allocated })
      assert.isTrue(result._tag === "Success" && result.success.stack === "werift" && result.success.turn.url === TCP)
    }))

  it.effect("UDP silent, TCP refuses: RelayUnavailable naming both", () =>
    Effect.gen(function*() {
      const { result } = yield* choose(servers(UDP, TCP), { [UDP]: silent, [TCP]: refused })
      assert.strictEqual(result._tag, "Failure")
      if (result._tag === "Failure") {
        assert.strictEqual(result.failure._tag, "RelayUnavailable")
        assert.match(result.failure.message, /no answer over UDP from turn:.*udp, and the server refused the allocation \(401 Unauthorized\)/)
      }
    }))

  it.effect("nothing answers: node-datachannel tries the direct paths; with relay-only it fails", () =>
    Effect.gen(function*() {
      const open = yield* choose(servers(UDP, TCP), { [UDP]: silent, [TCP]: silent })
      assert.strictEqual(open.result._tag === "Success" && open.result.success.stack, "node-datachannel")
      const relay = yield* choose(servers(UDP, TCP), { [UDP]: silent, [TCP]: silent }, "relay")
      assert.strictEqual(relay.result._tag === "Failure" && relay.result.failure._tag, "RelayUnavailable")
    }))

  it.effect("relay-only and UDP refused: RelayUnavailable at once", () =>
    Effect.gen(function*() {
      const { asked, result } = yield* choose(servers(UDP, TCP), { [UDP]: refused }, "relay")
      assert.strictEqual(result._tag === "Failure" && result.failure._tag, "RelayUnavailable")
      assert.deepStrictEqual(asked, [UDP])
    }))
})

describe("NodeTurnCheck", () => {
  it("reads TURN URLs with their transport and default ports; STUN URLs are not TURN servers", () => {
    const parsed = NodeTurnCheck.turnServers([
      { urls: ["stun:192.0.2.9", "turn:192.0.2.9", "turn:[2001:db8::1]:3479?transport=tcp", "turns:turn.example.org"], username: "u", credential: "p" }
    ])
    assert.deepStrictEqual(parsed.map((s) => [s.host, s.port, s.transport, s.username]), [
      ["192.0.2.9", 3478, "udp", "u"],
      ["2001:db8::1", 3479, "tcp", "u"],
      ["turn.example.org", 5349, "tls", "u"]
    ])
  })

  it("says why: expired REST credentials, a secret mismatch, or no answer", () => {
    const server = NodeTurnCheck.turnServers([{ urls: [UDP], username: "1000:did:key:z6Mk", credential: "x" }])[0]!
    assert.match(NodeTurnCheck.describe(server, refused, 1_060_000), /credentials expired 60 s ago/)
    const fresh = { ...server, username: "2000:did:key:z6Mk" }
    assert.match(NodeTurnCheck.describe(fresh, refused, 1_060_000), /AICONEXUS_TURN_SECRET must equal the TURN server's static-auth-secret/)
    assert.match(NodeTurnCheck.describe(fresh, silent, 0), /^unreachable over UDP/)
  })
})

describe("PeerMetrics.pathLabels", () => {
  it("labels each side by candidate type; our relays by how we reach the TURN server", () => {
    const pair = { localAddress: "", remoteAddress: "", roundTripTimeMs: undefined }
    assert.deepStrictEqual(PeerMetrics.pathLabels({ ...pair, localType: "relay", remoteType: "srflx", relayProtocol: "tcp" }), { local: "relay_tcp", remote: "srflx" })
    assert.deepStrictEqual(PeerMetrics.pathLabels({ ...pair, localType: "host", remoteType: "relay" }), { local: "host", remote: "relay" })
    // Anything else a stack reports is one fixed label, never its text.
    assert.deepStrictEqual(PeerMetrics.pathLabels({ ...pair, localType: "weird\n", remoteType: "prflx" }), { local: "unknown", remote: "prflx" })
    assert.deepStrictEqual(PeerMetrics.pathLabels(undefined), { local: "unknown", remote: "unknown" })
  })
})
