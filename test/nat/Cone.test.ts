/**
 * Two agents behind two endpoint-independent ("cone") NATs, with coturn and the gateway on the
 * "internet" between them (namespaces built by the test; see Lab.ts).
 *
 * - issue case 1: they connect directly through both NATs, by server-reflexive candidates;
 * - case 4: with `--ice-transport-policy relay` the same agents connect through TURN only;
 * - case 5: a gateway whose TURN secret coturn does not share (forged credentials), and one that
 *   mints credentials already expired: the caller fails at once with `RelayUnavailable`'s reason;
 * - the CLI refuses a plain ws:// gateway off loopback unless `--allow-insecure-ws` is given (every
 *   other test here gives it).
 */
import { join } from "node:path"
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { callAcross, callFails, ip } from "./agents.ts"
import { finished, labUnavailable, SERVER_IP, shared } from "./Lab.ts"

const unavailable = labUnavailable()
if (unavailable !== undefined) console.log(`NAT lab tests skipped: ${unavailable}`)

const ROUTER_A = "198.51.100.2"
const ROUTER_B = "192.0.2.2"

describe.skipIf(unavailable !== undefined)("behind two cone NATs", () => {
  const lab = shared({ natA: "cone", natB: "cone" }, (lab) =>
    Effect.all({
      url: lab.gateway({ port: 8787 }),
      forged: lab.gateway({ port: 8788, secret: "not-the-turn-servers-secret" }),
      expired: lab.gateway({ port: 8789, ttlSeconds: -600 }),
      noStun: lab.gateway({ port: 8790, stun: false })
    }, { concurrency: "unbounded" }))
  beforeAll(lab.start, 90_000)
  afterAll(lab.stop, 30_000)

  it.live("a ws:// gateway that is not on loopback is refused without --allow-insecure-ws", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const caller = yield* l.cli(l.ns.a, ["discover", "--gateway", extra.url, "--identity", join(l.dir, "insecure", "id.json")])
      const { code, output } = yield* finished(caller)
      assert.notStrictEqual(code, 0)
      assert.match(output, /^error: refusing ws:\/\/203\.0\.113\.1:8787\/ws: use wss:\/\//m, output)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("werift without a STUN URL asks the TURN server for its mapping (not werift's public default) and connects by srflx", () =>
    Effect.gen(function*() {
      const { extra, lab: l } = lab.get()
      const flags = ["--transport", "werift"]
      const { caller, listener } = yield* callAcross(l, extra.noStun, { caller: flags, listener: flags })
      // No route leads out of the lab: a mapping learned at all was learned from coturn.
      assert.include(["srflx", "prflx"], caller.remote, JSON.stringify(caller))
      assert.strictEqual(ip(caller.remoteAddress), ROUTER_B)
      assert.strictEqual(ip(listener.remoteAddress), ROUTER_A)
    }), { timeout: 60_000 })

  for (const stack of ["node-datachannel", "werift"] as const) {
    const flags = ["--transport", stack]

    it.live(`${stack}: connects directly through both NATs (server-reflexive), data both ways`, () =>
      Effect.gen(function*() {
        const { extra, lab: l } = lab.get()
        const { caller, listener } = yield* callAcross(l, extra.url, { caller: flags, listener: flags })
        // Each side sends to the other's NAT mapping: the peer's public address, no relay on either side.
        assert.include(["srflx", "prflx"], caller.remote, JSON.stringify(caller))
        assert.strictEqual(ip(caller.remoteAddress), ROUTER_B)
        assert.include(["srflx", "prflx"], listener.remote, JSON.stringify(listener))
        assert.strictEqual(ip(listener.remoteAddress), ROUTER_A)
        assert.notMatch(caller.local, /^relay/)
        assert.notMatch(listener.local, /^relay/)
      }), { timeout: 60_000 })

    it.live(`${stack}: relay-only policy connects through TURN (UDP) on both sides, never host or srflx`, () =>
      Effect.gen(function*() {
        const { extra, lab: l } = lab.get()
        const relayOnly = [...flags, "--ice-transport-policy", "relay"]
        const { caller, listener } = yield* callAcross(l, extra.url, { caller: relayOnly, listener: relayOnly })
        assert.strictEqual(caller.local, "relay_udp", JSON.stringify(caller))
        assert.strictEqual(ip(caller.localAddress), SERVER_IP)
        assert.strictEqual(listener.local, "relay_udp", JSON.stringify(listener))
        assert.strictEqual(ip(listener.localAddress), SERVER_IP)
        // The peer's candidate is its relay too: it gathered nothing else.
        assert.strictEqual(caller.remote, "relay")
        assert.strictEqual(listener.remote, "relay")
      }), { timeout: 60_000 })

    it.live(`${stack}: forged TURN credentials fail with a readable RelayUnavailable, not a timeout`, () =>
      Effect.gen(function*() {
        const { extra, lab: l } = lab.get()
        const { code, output } = yield* callFails(l, extra.forged, [...flags, "--ice-transport-policy", "relay"])
        assert.notStrictEqual(code, 0)
        assert.match(output, /^error: connection to did:key:\S+ failed: RelayUnavailable: no TURN relay from turn:203\.0\.113\.1:3478\?transport=udp: the server refused the allocation \(401 Unauthorized\); the gateway's AICONEXUS_TURN_SECRET must equal the TURN server's static-auth-secret$/m, output)
        assert.notMatch(output, /within \d+ ms/)
      }), { timeout: 60_000 })

    it.live(`${stack}: expired TURN credentials fail with a readable RelayUnavailable that says so`, () =>
      Effect.gen(function*() {
        const { extra, lab: l } = lab.get()
        const { code, output } = yield* callFails(l, extra.expired, [...flags, "--ice-transport-policy", "relay"])
        assert.notStrictEqual(code, 0)
        assert.match(output, /^error: connection to did:key:\S+ failed: RelayUnavailable: no TURN relay from turn:\S+: the server refused the allocation \(401 Unauthorized\); the credentials expired \d+ s ago/m, output)
      }), { timeout: 60_000 })
  }
})
