/**
 * A small MCP server written with the official SDK (not our code) for the `agent listen --mcp`
 * tests: `add` (numbers, with structured content), `shout` (text), `fail` (a tool error) and
 * `crash` (the process exits mid-call). Run as a program it serves stdio; `makeServer` is for
 * the streamable HTTP test.
 */
import { Server } from "@modelcontextprotocol/sdk/server/index.js"
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js"
import { CallToolRequestSchema, ListToolsRequestSchema } from "@modelcontextprotocol/sdk/types.js"

export const makeServer = () => {
const server = new Server({ name: "test-tools", version: "1.0.0" }, { capabilities: { tools: {} } })

server.setRequestHandler(ListToolsRequestSchema, async () => ({
  tools: [
    {
      name: "add",
      description: "Adds two numbers.",
      inputSchema: { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] }
    },
    {
      name: "shout",
      title: "Shout",
      description: "Upper-cases a text.",
      inputSchema: { type: "object", properties: { text: { type: "string" } }, required: ["text"] }
    },
    { name: "fail", description: "Always reports an error.", inputSchema: { type: "object" } },
    { name: "crash", description: "Exits the server.", inputSchema: { type: "object" } }
  ]
}))

server.setRequestHandler(CallToolRequestSchema, async (request) => {
  const args = (request.params.arguments ?? {}) as Record<string, unknown>
  switch (request.params.name) {
    case "add": {
      const sum = Number(args.a) + Number(args.b)
      return { content: [{ type: "text", text: String(sum) }], structuredContent: { sum } }
    }
    case "shout":
      return { content: [{ type: "text", text: String(args.text).toUpperCase() }] }
    case "fail":
      return { content: [{ type: "text", text: "this tool always fails" }], isError: true }
    case "crash":
      process.stderr.write("test-tools: crashing on purpose\n")
      process.exit(3)
    default:
      throw new Error(`no tool ${request.params.name}`)
  }
})

return server
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.stderr.write(`test-tools: started (pid ${process.pid})\n`)
  await makeServer().connect(new StdioServerTransport())
}
