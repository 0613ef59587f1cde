/**
 * Issue case 3: router B drops all UDP and lets its host out only over TCP to the servers (the
 * gateway and TURN over TCP). libjuice (node-datachannel) has TURN over UDP only, so the default
 * stack (`--transport auto`, NodeAutoTransport) finds UDP to the TURN server unanswered and uses
 * werift with TURN over TCP for that connection; the peer, on an open network, uses
 * node-datachannel. A gateway with forged TURN credentials makes the fallback fail typed.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { callAcross, callFails, ip } from "./agents.ts"
import { labUnavailable, SERVER_IP, shared } from "./Lab.ts"

const unavailable = labUnavailable()
if (unavailable !== undefined) console.log(`NAT lab tests skipped: ${unavailable}`)

describe.skipIf(unavailable !== undefined)("UDP blocked at router B", () => {
  const lab = shared({ natA: "cone", natB: "cone", udpBlockedAtB: true }, (lab) =>
    Effect.all({
      url: lab.gateway({ port: 8787 }),
      forged: lab.gateway({ port: 8788, secret: "not-the-turn-servers-secret" }),
      tls: lab.gateway({ port: 8789, turn: ["udp", "tls"] })
    }, { concurrency: "unbounded" }))
  beforeAll(lab.start, 90_000)
  afterAll(lab.stop, 30_000)

  for (const callerOnB of [false, true]) {
    it.live(`the default stack behind the block ${callerOnB ? "calls" : "answers"} through TURN over TCP; the open side runs node-datachannel`, () =>
      Effect.gen(function*() {
        const { extra, lab: l } = lab.get()
        const { caller, listener, metrics } = yield* callAcross(l, extra.url, { callerOnB, metricsPort: 9464 })
        const [blocked, open] = callerOnB ? [caller, listener] : [listener, caller]
        assert.strictEqual(blocked.local, "relay_tcp", JSON.stringify(blocked))
        assert.strictEqual(ip(blocked.localAddress), SERVER_IP)
        assert.strictEqual(open.remote, "relay", JSON.stringify(open))
        assert.strictEqual(ip(open.remoteAddress), SERVER_IP)
        // The listener's metrics count the connection by the path it took.
        const label = callerOnB ? `local="srflx",remote="relay"` : `local="relay_tcp",remote="srflx"`
        assert.match(metrics, new RegExp(`^aiconexus_agent_peer_paths_total\\{${label}\\} 1$`, "m"), metrics)
      }), { timeout: 60_000 })
  }

  it.live("with TURN over TLS (turns:, a test CA) instead of TCP, the default stack relays over TLS", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const { caller, listener } = yield* callAcross(l, extra.tls, { callerOnB: true })
      assert.strictEqual(caller.local, "relay_tls", JSON.stringify(caller))
      assert.strictEqual(ip(caller.localAddress), SERVER_IP)
      assert.strictEqual(listener.remote, "relay", JSON.stringify(listener))
    }), { timeout: 60_000 })

  it.live("werift with the relay-only policy behind the block picks the TURN server over TCP itself", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const flags = ["--transport", "werift", "--ice-transport-policy", "relay"]
      const { caller, listener } = yield* callAcross(l, extra.url, { callerOnB: true, caller: flags, listener: flags })
      assert.strictEqual(caller.local, "relay_tcp", JSON.stringify(caller))
      assert.strictEqual(listener.local, "relay_udp", JSON.stringify(listener))
      assert.strictEqual(ip(caller.remoteAddress), SERVER_IP)
    }), { timeout: 60_000 })

  it.live("node-datachannel alone cannot relay behind the block (libjuice: TURN over UDP only), and says so", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const { code, output } = yield* callFails(l, extra.url, ["--transport", "node-datachannel", "--ice-transport-policy", "relay"], true)
      assert.notStrictEqual(code, 0)
      assert.match(output, /^error: connection to did:key:\S+ failed: RelayUnavailable: no TURN relay from turn:203\.0\.113\.1:3478\?transport=udp: unreachable over UDP/m, output)
    }), { timeout: 60_000 })

  it.live("behind the block, a TURN server that refuses the credentials fails typed, not by timeout", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const { code, output } = yield* callFails(l, extra.forged, [], true)
      assert.notStrictEqual(code, 0)
      assert.match(output, /^error: connection to did:key:\S+ failed: RelayUnavailable: no TURN relay from turn:203\.0\.113\.1:3478\?transport=tcp: no answer over UDP from turn:203\.0\.113\.1:3478\?transport=udp, and the server refused the allocation \(401 Unauthorized\)/m, output)
    }), { timeout: 60_000 })
})
