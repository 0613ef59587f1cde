/**
 * The event loop's share for frames (LoopShare.ts): past a turn's budget, frames wait and
 * addresses take turns, so many sessions of one address sending at once do not hold the loop
 * while a frame from another address waits behind them. Sessions on fake sockets, timed by a
 * fake clock (every frame costs 0.5 ms of a 2 ms budget).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import * as DialledUrl from "../../src/gateway/DialledUrl.ts"
import { LoopShare, type Sharer } from "../../src/gateway/LoopShare.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Session from "../../src/gateway/Session.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Heartbeat from "../../src/protocol/Heartbeat.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { testConfig } from "./fixtures.ts"

const services = Layer.mergeAll(AgentRegistry.layerMemory, Router.layerMemory, NodeEd25519.layer)

/** A clock that moves 0.5 ms each time it is read: a frame (read before and after) costs 0.5 ms. */
const steppingClock = () => {
  let t = 0
  return () => (t += 0.5)
}

describe("LoopShare", () => {
  it.effect("within the budget every frame runs; past it, the first of each address with nothing waiting", () =>
    Effect.sync(() => {
      const share = new LoopShare(2, steppingClock())
      assert.isTrue(share.mayRun("a"))
      share.spend(2)
      // Past the budget: one frame per address until the budget is renewed.
      assert.isTrue(share.mayRun("a"))
      assert.isFalse(share.mayRun("a"))
      assert.isTrue(share.mayRun("b"))
      assert.isFalse(share.mayRun("b"))
      // An address with a session waiting gets no frame past the budget: it has its turn in the round.
      share.wait({ address: "c", nextTurn: () => undefined })
      assert.isFalse(share.mayRun("c"))
    }))

  it.live("serves waiting sessions round-robin by address, a budget's worth per turn", () =>
    Effect.gen(function*() {
      const share = new LoopShare(2, steppingClock())
      const served: Array<string> = []
      // Each turn of a session costs 1 ms: two turns per budget.
      const sharer = (address: string, name: string): Sharer => ({
        address,
        nextTurn: () => {
          served.push(name)
          share.spend(1)
        }
      })
      // One address queues 4 sessions first, then two other addresses one each.
      for (let i = 1; i <= 4; i++) share.wait(sharer("10.0.0.2", `a${i}`))
      share.wait(sharer("10.0.0.3", "b1"))
      share.wait(sharer("10.0.0.4", "c1"))
      yield* Effect.promise(() => new Promise((resolve) => setImmediate(resolve)))
      // The first turn: a budget's worth (2 sessions), taken from the addresses in turn.
      assert.deepStrictEqual(served, ["a1", "b1"])
      yield* Effect.sleep(20)
      assert.deepStrictEqual(served, ["a1", "b1", "c1", "a2", "a3", "a4"])
      assert.strictEqual(share.waiting, 0)
    }))
})

/** `n` registered sessions on fake sockets at `address`, on one node; each counts the HEARTBEAT_ACKs it was sent. */
const registeredSessions = (node: Session.Node, address: string, n: number) =>
  Effect.forEach(Array.from({ length: n }), () =>
    Effect.gen(function*() {
      const sent: Array<string> = []
      const connection: Session.Connection = {
        send: (frame) => void sent.push(frame),
        close: () => undefined,
        bufferedBytes: () => 0,
        pause: () => undefined,
        resume: () => undefined,
        abort: () => undefined,
        dialled: DialledUrl.dialled("127.0.0.1:8787", undefined, false),
        address
      }
      const session = Session.start(node, connection)
      yield* Effect.yieldNow
      const challenge = JSON.parse(sent.find((frame) => frame.includes("\"CHALLENGE\""))!) as Envelope.Envelope<"CHALLENGE">
      const agent = yield* Identity.generate
      const register = yield* Envelope.make(agent, {
        type: "REGISTER",
        to: node.identity.did,
        payload: { nonce: challenge.payload.nonce, endpoint: "ws://127.0.0.1:8787/ws", capabilities: [] }
      })
      session.receive(Envelope.encode(register))
      for (let i = 0; i < 100 && !sent.some((frame) => frame.includes("\"REGISTERED\"")); i++) yield* Effect.sleep(5)
      assert.isTrue(sent.some((frame) => frame.includes("\"REGISTERED\"")))
      return { session, acks: () => sent.filter((frame) => frame === Heartbeat.ACK_FRAME).length }
    }))

describe("sessions sharing the event loop", () => {
  it.live("100 sessions of one address sending at once do not hold up a frame from another address", () =>
    Effect.gen(function*() {
      const config = testConfig({ verifyWorkers: 0 })
      const gateway = yield* Identity.generate
      const node = yield* Session.makeNode({
        config,
        identity: gateway,
        rates: Session.makeRates(config),
        share: new LoopShare(2, steppingClock())
      })
      const hostile = yield* registeredSessions(node, "10.0.0.2", 100)
      const [honest] = yield* registeredSessions(node, "10.0.0.1", 1)
      // A fresh turn of the loop, with the budget renewed.
      yield* Effect.sleep(20)
      const handled = () => hostile.reduce((sum, s) => sum + s.acks(), 0)

      // In one turn: every hostile session sends a frame, then the honest one.
      for (const { session } of hostile) session.receive(Heartbeat.FRAME)
      honest!.session.receive(Heartbeat.FRAME)
      // The budget's worth (4 frames of 0.5 ms) and one more of the address past it; the honest
      // frame was handled at once; the other 95 wait.
      assert.strictEqual(handled(), 5)
      assert.strictEqual(honest!.acks(), 1)
      assert.strictEqual(node.share.waiting, 95)

      // In later turns, every one is handled, none dropped.
      for (let i = 0; i < 100 && handled() < 100; i++) yield* Effect.sleep(5)
      assert.strictEqual(handled(), 100)
      assert.strictEqual(node.share.waiting, 0)
    }).pipe(Effect.provide(services)))
})
