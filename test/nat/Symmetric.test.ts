/**
 * Issue case 2: both agents behind address-and-port-dependent ("symmetric") NATs
 * (`MASQUERADE --random-fully`), then only one of them: no direct path exists, so they connect
 * through coturn's relay.
 */
import { afterAll, assert, beforeAll, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { callAcross, ip, type Path } from "./agents.ts"
import { labUnavailable, SERVER_IP, shared } from "./Lab.ts"

const unavailable = labUnavailable()
if (unavailable !== undefined) console.log(`NAT lab tests skipped: ${unavailable}`)

/** The path runs through the TURN server: our relay, or the peer's. */
const relayed = (path: Path) =>
  (path.local.startsWith("relay") && ip(path.localAddress) === SERVER_IP) || (path.remote === "relay" && ip(path.remoteAddress) === SERVER_IP)

describe.skipIf(unavailable !== undefined)("behind two symmetric NATs", () => {
  const lab = shared({ natA: "symmetric", natB: "symmetric" }, (lab) => lab.gateway({ port: 8787 }))
  beforeAll(lab.start, 90_000)
  afterAll(lab.stop, 30_000)

  const cases = [
    { name: "node-datachannel", caller: ["--transport", "node-datachannel"], listener: ["--transport", "node-datachannel"] },
    { name: "werift", caller: ["--transport", "werift"], listener: ["--transport", "werift"] },
    { name: "node-datachannel calling werift", caller: ["--transport", "node-datachannel"], listener: ["--transport", "werift"] }
  ]
  it.live("only one side symmetric (B cone): still no direct path, node-datachannel relays", () =>
    Effect.gen(function*() {
      const { extra: url, lab: l } = lab.get()
      yield* Effect.acquireRelease(l.setNat("b", "cone"), () => l.setNat("b", "symmetric"))
      const flags = ["--transport", "node-datachannel"]
      const { caller, listener } = yield* callAcross(l, url, { caller: flags, listener: flags })
      assert.isTrue(relayed(caller), JSON.stringify(caller))
      assert.isTrue(relayed(listener), JSON.stringify(listener))
    }).pipe(Effect.scoped), { timeout: 60_000 })

  for (const stacks of cases) {
    it.live(`${stacks.name}: connects through the TURN relay (UDP), data both ways`, () =>
      Effect.gen(function*() {
        const { extra: url, lab: l } = lab.get()
        const { caller, listener } = yield* callAcross(l, url, stacks)
        assert.isTrue(relayed(caller), JSON.stringify(caller))
        assert.isTrue(relayed(listener), JSON.stringify(listener))
        // Where a side relays, it reaches coturn over UDP.
        for (const path of [caller, listener]) if (path.local.startsWith("relay")) assert.strictEqual(path.local, "relay_udp")
      }), { timeout: 60_000 })
  }
})
