/**
 * The library forms, composed in one Effect program without the CLI: `McpCapabilities.layerAgent`
 * turns an MCP server (the SDK test server, over stdio) into an agent's capabilities, and
 * `McpBridge.registrations` turns another agent into MCP tools (read with effect's in-memory
 * `McpTest` client).
 */
import { NodeServices, NodeSocket } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Layer, Schedule } from "effect"
import { McpProtocol, McpTest } from "effect/ai"
import { Agent } from "../../src/agent/Agent.ts"
import { KnownGateways } from "../../src/client/KnownGateways.ts"
import * as McpBridge from "../../src/mcp/McpBridge.ts"
import * as McpCapabilities from "../../src/mcp/McpCapabilities.ts"
import * as McpConnection from "../../src/mcp/McpConnection.ts"
import { toolName } from "../../src/mcp/ToolNames.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as CandidatePolicy from "../../src/webrtc/peer/CandidatePolicy.ts"
import { realTransports } from "../webrtc/fixtures.ts"
import { gateway, jsonOf, registered, TOOL_SERVER } from "./fixtures.ts"

const platform = Layer.mergeAll(realTransports[0]![1], KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor)

describe("MCP bridges as Layers", () => {
  it.live("an MCP server's tools served by an agent, called as MCP tools of another agent", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const alice = yield* Identity.generate
      const bob = yield* Identity.generate
      // Bob: the SDK test server's tools, for alice only.
      const bobs = yield* Layer.build(
        McpCapabilities.layerAgent({ urls: [url], identity: bob, candidatePolicy: CandidatePolicy.allowAll, allow: [alice.did] }).pipe(
          Layer.provide(McpCapabilities.layerConnection(McpConnection.make(McpConnection.stdio(TOOL_SERVER)))),
          Layer.provide(Layer.merge(platform, NodeServices.layer))
        )
      )
      // Alice: an agent whose MCP toolkit trusts bob.
      const alices = yield* Layer.build(
        Agent.layer({ urls: [url], identity: alice, candidatePolicy: CandidatePolicy.allowAll }).pipe(Layer.provide(platform))
      )
      yield* registered(Context.get(alices, Agent), Context.get(bobs, Agent).did)
      const client: McpTest.Client = yield* McpTest.makeClient(
        McpBridge.registrations({ trusted: [bob.did], refreshMs: 200 }).pipe(Layer.provide(Layer.succeedContext(alices))),
        { protocols: [McpProtocol.v2025_11_25] }
      )
      const add = toolName(bob.did, "add")
      const tools = yield* client.listTools({}).pipe(
        Effect.repeat({ until: (listed) => listed.tools.some((t) => t.name === add), schedule: Schedule.spaced("100 millis") }),
        Effect.timeout("20 seconds")
      )
      assert.include(tools.tools.map((t) => t.name), "call")
      const result = yield* client.callTool({ name: add, arguments: { a: 4, b: 5 } })
      assert.deepStrictEqual(jsonOf(result), { content: [{ type: "text", text: "9" }], structuredContent: { sum: 9 } })
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
