/**
 * Chromium hides its host addresses behind mDNS names (`<uuid>.local`) on pages from the internet.
 * A Node agent cannot resolve them and drops them (`CandidatePolicy.forStack`); the connection forms
 * through the peer-reflexive candidate the browser's checks create on the Node side.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { call, harnessPage, launch, nodeAgent } from "./chromium.ts"

const line = (address: string) => `candidate:1 1 udp 2122194687 ${address} 9999 typ host generation 0`

describe("mDNS host candidates", () => {
  it("are dropped by stacks that cannot resolve them, kept by those that can and by a policy that refuses them anyway", () => {
    const mdns = line("4e5c1f3a-1234-4b5c-9d6e-0123456789ab.local")
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.defaultPolicy, mdns))
    assert.isFalse(CandidatePolicy.accepts(CandidatePolicy.forStack(CandidatePolicy.defaultPolicy, { resolvesMdns: false }), mdns))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.forStack(CandidatePolicy.defaultPolicy, { resolvesMdns: true }), mdns))
    assert.isTrue(CandidatePolicy.accepts(CandidatePolicy.forStack(CandidatePolicy.allowAll, { resolvesMdns: false }), line("127.0.0.1")))
    assert.strictEqual(CandidatePolicy.forStack(CandidatePolicy.defaultPolicy, { resolvesMdns: true }), CandidatePolicy.defaultPolicy)
  })

  it.live.each(realTransports)("a Chromium page that hides its addresses connects to a %s agent through a peer-reflexive candidate", ([, transport]) =>
    Effect.gen(function*() {
      const gateway = Context.get(yield* Layer.build(Gateway.layerMemory(testConfig())), Gateway.Gateway)
      const node = yield* nodeAgent(gateway.url, transport)
      const { page } = yield* harnessPage(yield* launch, { from: "public" })
      // What this page announces: host candidates by mDNS name only.
      const hosts = yield* Effect.promise(() =>
        page.evaluate(async () => {
          const pc = new RTCPeerConnection()
          pc.createDataChannel("probe")
          const addresses: Array<string> = []
          const gathered = new Promise<void>((resolve) => {
            pc.onicecandidate = (event) => event.candidate === null ? resolve() : void addresses.push(`${event.candidate.type} ${event.candidate.address}`)
          })
          await pc.setLocalDescription(await pc.createOffer())
          await gathered
          pc.close()
          return addresses.filter((a) => a.startsWith("host "))
        }))
      assert.isAbove(hosts.length, 0)
      for (const host of hosts) assert.match(host, /^host [0-9a-f-]{36}\.local$/)

      const did = yield* call(page, "start", "a", { url: gateway.url })
      yield* call(page, "connect", "a", node.agent.did)
      assert.deepStrictEqual(yield* call(page, "request", "a", node.agent.did, "echo", { over: "prflx" }), { by: "node", echoed: { over: "prflx" } })
      for (let i = 0; i < 100 && !node.sessions.has(did); i++) yield* Effect.sleep("20 millis")
      const pair = (yield* node.sessions.get(did)!.link.peer.stats).selectedPair
      assert.strictEqual(pair?.remoteType, "prflx", "the Node side learnt the browser's address from its checks")
      // Chromium's side, read from its stats: the same path. Its own end is peer-reflexive too when
      // the address the Node side saw is not one it gathered (it gathers no loopback in this mode).
      const theirs = yield* call(page, "selectedPair", "a", node.agent.did)
      assert.include(["host", "prflx"], theirs?.localType)
      // The Node agent's candidate as it announced it; Chromium leaves its own address out of this
      // page's stats (the port is the one the Node side saw).
      assert.strictEqual(theirs?.remoteAddress, pair?.localAddress)
      assert.strictEqual(theirs?.localAddress, `[hidden]:${pair?.remoteAddress.split(":").pop()}`)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
