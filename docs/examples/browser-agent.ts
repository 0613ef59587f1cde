import { Context, Effect, Layer } from "effect"
import { Agent, BrowserAgent, CandidatePolicy } from "../../src/browser/index.ts"

// This tab becomes an agent on the gateway that served the page, finds an "echo" agent and calls it.
const program = Effect.gen(function*() {
  const context = yield* Layer.build(BrowserAgent.layer({
    urls: [BrowserAgent.gatewayUrlOf(location.href)],
    serve: [{ capability: { id: "tab.hello" }, handler: () => Effect.succeed({ hello: "from a tab" }) }],
    // Loopback candidates are refused by default; this example runs on one machine.
    candidatePolicy: CandidatePolicy.allowAll
  }))
  const agent = Context.get(context, Agent) // the same DID after a reload: its key is in IndexedDB
  const [peer] = yield* agent.discover({ capability: "echo" })
  const session = yield* agent.connect(peer!.did)
  const answer = yield* session.request("echo", { text: "hello from a tab" })
  document.body.textContent = `${agent.did} got ${JSON.stringify(answer)}`
})

Effect.runPromise(Effect.scoped(program))
