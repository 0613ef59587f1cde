/**
 * A session's turn of the event loop (Session.ts): it handles at most 16 frames and 64 KiB of them
 * in a row (the first frame always), and holds the rest for its next turn; it stops reading its
 * socket while it holds 64 frames or 64 KiB. Driven through a fake socket, so what is handled
 * within one synchronous turn is visible.
 */
import { assert, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { AgentRegistry } from "../../src/gateway/AgentRegistry.ts"
import { LoopShare } from "../../src/gateway/LoopShare.ts"
import * as DialledUrl from "../../src/gateway/DialledUrl.ts"
import { Router } from "../../src/gateway/Router.ts"
import * as Session from "../../src/gateway/Session.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import { testConfig } from "./fixtures.ts"

const services = Layer.mergeAll(AgentRegistry.layerMemory, Router.layerMemory, NodeEd25519.layer)

/** A session on a socket that records what the gateway sends and when it stops and starts reading, registered as a fresh agent. */
const registeredSession = Effect.gen(function*() {
  // Refused frames never close this session: only the turn is under test.
  const config = testConfig({ maxRejectedBytes: 1e9, maxRejectedFrames: 1e6, verifyWorkers: 0 })
  const gateway = yield* Identity.generate
  // The loop's share never runs short here (test/gateway/LoopShare.test.ts has it).
  const node = yield* Session.makeNode({ config, identity: gateway, rates: Session.makeRates(config), share: new LoopShare(Infinity) })
  const sent: Array<Envelope.Envelope> = []
  const reading: Array<"pause" | "resume"> = []
  const connection: Session.Connection = {
    send: (frame) => void sent.push(JSON.parse(frame) as Envelope.Envelope),
    close: () => undefined,
    bufferedBytes: () => 0,
    pause: () => void reading.push("pause"),
    resume: () => void reading.push("resume"),
    abort: () => undefined,
    dialled: DialledUrl.dialled("127.0.0.1:8787", undefined, false)
  }
  const session = Session.start(node, connection)
  yield* Effect.yieldNow
  const challenge = sent.find((envelope) => envelope.type === "CHALLENGE") as Envelope.Envelope<"CHALLENGE">
  const agent = yield* Identity.generate
  const register = yield* Envelope.make(agent, {
    type: "REGISTER",
    to: gateway.did,
    payload: { nonce: challenge.payload.nonce, endpoint: "ws://127.0.0.1:8787/ws", capabilities: [] }
  })
  session.receive(Envelope.encode(register))
  // Registration may finish on a later turn.
  for (let i = 0; i < 50 && !sent.some((envelope) => envelope.type === "REGISTERED"); i++) yield* Effect.sleep(10)
  assert.isTrue(sent.some((envelope) => envelope.type === "REGISTERED"))
  // A fresh turn for what follows.
  yield* Effect.sleep(10)
  const errors = () => sent.filter((envelope) => envelope.type === "ERROR").length
  return { session, errors, reading }
})

/** An unreadable frame of `bytes` (not JSON): refused with MALFORMED_MESSAGE, an ERROR each. */
const junk = (bytes: number, i: number) => `${i}`.padEnd(bytes, "x")

it.live("handles frames within 64 KiB in one turn and holds the rest for the next", () =>
  Effect.gen(function*() {
    const { errors, session } = yield* registeredSession
    // Three 30 KB frames in one synchronous turn: two fit in 64 KiB, the third waits a turn.
    for (let i = 0; i < 3; i++) session.receive(junk(30_000, i))
    assert.strictEqual(errors(), 2)
    yield* Effect.sleep(20)
    assert.strictEqual(errors(), 3)
  }).pipe(Effect.provide(services)))

it.live("handles at most 16 small frames in one turn", () =>
  Effect.gen(function*() {
    const { errors, session } = yield* registeredSession
    for (let i = 0; i < 20; i++) session.receive(junk(100, i))
    assert.strictEqual(errors(), 16)
    yield* Effect.sleep(20)
    assert.strictEqual(errors(), 20)
  }).pipe(Effect.provide(services)))

it.live("always handles the first frame of a turn, and holds a small one that would pass 64 KiB", () =>
  Effect.gen(function*() {
    const { errors, session } = yield* registeredSession
    session.receive(junk(65_500, 0))
    session.receive(junk(100, 1))
    assert.strictEqual(errors(), 1)
    yield* Effect.sleep(20)
    assert.strictEqual(errors(), 2)
  }).pipe(Effect.provide(services)))

it.live("stops reading its socket once it holds 64 KiB of frames, and reads again once it has handled them", () =>
  Effect.gen(function*() {
    const { errors, reading, session } = yield* registeredSession
    // Two 30 KB frames are handled, the next two held (60 KB): still reading.
    for (let i = 0; i < 4; i++) session.receive(junk(30_000, i))
    assert.strictEqual(errors(), 2)
    assert.deepStrictEqual(reading, [])
    // A fifth: 90 KB held, past 64 KiB (in 3 frames, far below the 64 frames that also stop it).
    session.receive(junk(30_000, 4))
    assert.deepStrictEqual(reading, ["pause"])
    yield* Effect.sleep(50)
    assert.strictEqual(errors(), 5)
    assert.deepStrictEqual(reading, ["pause", "resume"])
  }).pipe(Effect.provide(services)))

it.live("stops reading its socket once it holds 64 frames", () =>
  Effect.gen(function*() {
    const { reading, session } = yield* registeredSession
    // 16 handled, then 64 held.
    for (let i = 0; i < 79; i++) session.receive(junk(100, i))
    assert.deepStrictEqual(reading, [])
    session.receive(junk(100, 79))
    assert.deepStrictEqual(reading, ["pause"])
    // Reading again once all 80 are handled (their ERROR replies are capped at 40: not counted here).
    yield* Effect.sleep(100)
    assert.deepStrictEqual(reading, ["pause", "resume"])
  }).pipe(Effect.provide(services)))
