/**
 * Both bridges at once: MCP SDK client → `aiconexus mcp` → P2P (real gateway, real data channel)
 * → `agent listen --mcp` → MCP SDK server, and back. And `aiconexus mcp --http` with the SDK's
 * streamable HTTP client.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { toolName } from "../../src/mcp/ToolNames.ts"
import { line, runCli } from "../processes.ts"
import { agent, cliProcess, gateway, jsonOf, sdkClient, tempDir, textOf, TOOL_SERVER } from "./fixtures.ts"

describe("MCP bridges end to end", () => {
  it.live("an MCP client calls an MCP server's tools on another machine's agent through both bridges", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const dir = tempDir()
      // The identity `aiconexus mcp` will use, made first so the listener can allow its DID.
      const keygen = yield* runCli(["keygen", "--out", `${dir}/mcp/id.json`])
      assert.strictEqual(keygen.code, 0, keygen.output)
      const bridgeDid = keygen.output.trim().split("\n").at(-1)!
      const listener = yield* cliProcess([
        "agent", "listen", "--gateway", url, "--identity", `${dir}/listener/id.json`, "--mcp", TOOL_SERVER, "--allow", bridgeDid
      ])
      const listenerDid = (yield* line(listener.lines, /^listening as (\S+)/))[1]!
      const { client, errors } = yield* sdkClient([
        "mcp", "--gateway", url, "--identity", `${dir}/mcp/id.json`, "--trust", listenerDid, "--refresh-ms", "300"
      ])

      // The far MCP server's tools come back as tools of this MCP server, schemas included.
      const add = toolName(listenerDid, "add")
      const tools = yield* Effect.gen(function*() {
        while (true) {
          const listed = yield* Effect.promise(() => client.listTools())
          if (listed.tools.some((t) => t.name === add)) return listed.tools
          yield* Effect.sleep("100 millis")
        }
      }).pipe(Effect.timeout("20 seconds"))
      assert.deepStrictEqual(tools.find((t) => t.name === add)!.inputSchema.required, ["a", "b"])
      assert.include(tools.find((t) => t.name === add)!.description!, "Adds two numbers.")

      const sum = yield* Effect.promise(() => client.callTool({ name: add, arguments: { a: 20, b: 22 } }))
      assert.notStrictEqual(sum.isError, true, textOf(sum))
      assert.deepStrictEqual(jsonOf(sum), { content: [{ type: "text", text: "42" }], structuredContent: { sum: 42 } })
      const shouted = yield* Effect.promise(() =>
        client.callTool({ name: "call", arguments: { did: listenerDid, capability: "shout", args: { text: "far away" } } })
      )
      assert.deepStrictEqual(jsonOf(shouted), { content: [{ type: "text", text: "FAR AWAY" }] })
      // A tool error on the far side is a tool error here, with its reason.
      const failed = yield* Effect.promise(() => client.callTool({ name: "call", arguments: { did: listenerDid, capability: "fail" } }))
      assert.strictEqual(failed.isError, true)
      assert.match(textOf(failed), /^TOOL_ERROR: .*this tool always fails$/)
      assert.deepStrictEqual(errors, [])
    }).pipe(Effect.scoped), { timeout: 90_000 })

  it.live("aiconexus mcp --http serves the same tools over streamable HTTP on loopback", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const bob = yield* agent(url, { serve: [{ capability: { id: "echo" }, handler: (args) => Effect.succeed(args) }] })
      const server = yield* cliProcess(["mcp", "--gateway", url, "--identity", `${tempDir()}/id.json`, "--http", "0"])
      const endpoint = (yield* line(server.lines, /^mcp at (http:\/\/127\.0\.0\.1:\d+\/mcp) as /))[1]!
      const client = yield* Effect.acquireRelease(
        Effect.promise(async () => {
          const client = new Client({ name: "aiconexus-test", version: "0.0.0" })
          await client.connect(new StreamableHTTPClientTransport(new URL(endpoint)))
          return client
        }),
        (client) => Effect.promise(() => client.close())
      )
      const listed = yield* Effect.promise(() => client.listTools())
      assert.deepStrictEqual(listed.tools.map((t) => t.name).sort(), ["call", "discover"])
      const echoed = yield* Effect.promise(() => client.callTool({ name: "call", arguments: { did: bob.did, capability: "echo", args: { n: 1 } } }))
      assert.deepStrictEqual(jsonOf(echoed), { n: 1 })
    }).pipe(Effect.scoped), { timeout: 60_000 })
})
