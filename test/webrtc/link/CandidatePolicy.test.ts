import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as CandidatePolicy from "../../../src/webrtc/peer/CandidatePolicy.ts"
import { agentOnHub, hub, realTransports } from "../fixtures.ts"

describe.each(realTransports)("the candidate policy on %s", (_name, transport) => {
  it.live("holds for candidates carried in the offer and answer too: loopback-only peers under the default policy do not connect", () =>
    Effect.gen(function*() {
      const signalingHub = yield* hub
      const options = { candidatePolicy: CandidatePolicy.defaultPolicy, connectTimeoutMs: 2_000 }
      const alice = yield* agentOnHub(signalingHub, transport, options)
      const bob = yield* agentOnHub(signalingHub, transport, options)
      const failure = yield* Effect.flip(alice.connector.connect(bob.identity.did))
      assert.include(["ConnectTimeout", "ConnectFailed"], failure._tag)
    }).pipe(Effect.scoped), 30_000)
})
