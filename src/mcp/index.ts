/**
 * `aiconexus/mcp`: the MCP bridges, on effect's `McpServer` / `McpClient`: an Agent's network as
 * MCP tools (`McpBridge`), and a local MCP server's tools as an agent's capabilities
 * (`McpCapabilities`, `McpConnection`). Each module of the room, as a namespace named after it.
 *
 * @since 0.1.0
 */
export * as McpBridge from "./McpBridge.ts"
export * as McpCapabilities from "./McpCapabilities.ts"
export * as McpConnection from "./McpConnection.ts"
export * as NetworkTools from "./NetworkTools.ts"
export * as PeerSessions from "./PeerSessions.ts"
export * as ToolNames from "./ToolNames.ts"
export * as Untrusted from "./Untrusted.ts"
