/**
 * Run as a child process by Exit.test.ts: connects agents over every real stack, exchanges a
 * message, closes everything, and then must let the process exit by itself (no process.exit).
 */
import { Effect, Fiber, Option, Stream } from "effect"
import { agentOnHub, connectPair, hub, realTransports } from "./fixtures.ts"

const program = Effect.gen(function*() {
  for (const [name, transport] of realTransports) {
    yield* Effect.scoped(Effect.gen(function*() {
      const signalingHub = yield* hub
      const alice = yield* agentOnHub(signalingHub, transport)
      const bob = yield* agentOnHub(signalingHub, transport)
      const { answerer, offerer } = yield* connectPair(alice, bob)
      const arriving = yield* answerer.control.messages.pipe(Stream.runHead, Effect.forkChild)
      yield* offerer.control.send("bye")
      const message = yield* Fiber.join(arriving)
      if (Option.getOrUndefined(message) !== "bye") return yield* Effect.die(new Error(`${name}: no message`))
      console.log(`${name}: connected, exchanged, closing`)
    }))
  }
})

await Effect.runPromise(program)
console.log("scopes closed")
