/**
 * A local MCP server's tools as an agent's capabilities (what `agent listen --mcp` serves): each
 * tool is a capability with its name as id, its description and its input schema (answered by
 * `ioap.describe`); a call runs the tool and answers its result, `{ content, structuredContent? }`
 * as MCP returned it. A tool that reports an error answers `TOOL_ERROR`; a crashed server
 * `UNAVAILABLE` (see `McpConnection`).
 *
 * Exposing local tools to a network is dangerous: `layerAgent` is deny-by-default, only the DIDs
 * in `allow` may call (the others get UNAUTHORIZED; `ioap.describe` stays open).
 *
 * @since 0.1.0
 */
import { Effect, Layer, Scope } from "effect"
import type { McpSchema } from "effect/ai"
import { Agent, type AgentConfig, type AgentPlatform, type Result, type Served } from "../agent/Agent.ts"
import { CapabilityError } from "../agent/CapabilityError.ts"
import type { GatewayClient } from "../client/GatewayClient.ts"
import * as Describe from "../protocol/Describe.ts"
import type { Did } from "../protocol/Did.ts"
import type { Transport } from "../webrtc/peer/Transport.ts"
import { type McpConnection, McpConnectionService, TOOL_ERROR } from "./McpConnection.ts"

const MAX_ID = 128
const MAX_DESCRIPTION = 1024

/** The text of a tool result's text content, for an error reason. */
const textOf = (result: McpSchema.CallToolResult): string =>
  result.content.flatMap((c) => c.type === "text" ? [c.text] : []).join("\n") || "the tool reported an error"

/** A tool result as a capability result (plain JSON). */
const resultOf = (result: McpSchema.CallToolResult): Result =>
  JSON.parse(JSON.stringify({
    content: result.content,
    ...(result.structuredContent === undefined ? {} : { structuredContent: result.structuredContent })
  }))

/**
 * The capabilities of `connection`'s tools. Tools whose name is not a valid capability id (over
 * 128 characters, or the reserved `ioap.describe`) are left out; descriptions are cut to 1024
 * characters; an input schema over the `ioap.describe` limits is left out of the description.
 */
export const served = (connection: McpConnection): Effect.Effect<ReadonlyArray<Served>> =>
  Effect.map(connection.tools, (tools) =>
    tools
      .filter((tool) => tool.name.length > 0 && tool.name.length <= MAX_ID && tool.name !== Describe.DESCRIBE)
      .slice(0, Describe.MAX_CAPABILITIES)
      .map((tool): Served => {
        const schema = tool.inputSchema as unknown
        const description = tool.description ?? tool.title
        return {
          capability: {
            id: tool.name,
            ...(tool.title === undefined ? {} : { name: tool.title.slice(0, 128) }),
            ...(description === undefined ? {} : { description: description.slice(0, MAX_DESCRIPTION) }),
            tags: ["mcp"]
          },
          ...(Describe.checkInputSchema(schema) === undefined ? { inputSchema: schema as Describe.InputSchema } : {}),
          handler: (args, _from) =>
            Effect.flatMap(
              // The deadline is the request's: Agent interrupts the handler at its timeout.
              connection.call(tool.name, args, 3_600_000),
              (result) =>
                result.isError === true
                  ? Effect.fail(new CapabilityError({ code: TOOL_ERROR, reason: textOf(result).slice(0, MAX_DESCRIPTION) }))
                  : Effect.succeed(resultOf(result))
            )
        }
      }))

/** Only `allow` may call; anyone may ask `ioap.describe`. */
export const allowOnly = (allow: ReadonlyArray<Did>) => {
  const allowed = new Set<string>(allow)
  return (remote: Did, capability: string): Effect.Effect<boolean> =>
    Effect.succeed(capability === Describe.DESCRIBE || allowed.has(remote))
}

/**
 * An agent serving the tools of the `McpConnectionService` to the DIDs in `allow` (and its other
 * `serve` capabilities). The connection's tools are read once, when the agent starts.
 */
export const layerAgent = (
  config: AgentConfig & { readonly allow: ReadonlyArray<Did> }
): Layer.Layer<Agent | GatewayClient, never, McpConnectionService | Transport | AgentPlatform> =>
  Layer.unwrap(Effect.gen(function*() {
    const connection = yield* McpConnectionService
    const tools = yield* served(connection)
    const { allow, ...agent } = config
    return Agent.layer({ ...agent, serve: [...(agent.serve ?? []), ...tools], authorize: allowOnly(allow) })
  }))

/** Keeps `Scope` out of a caller's way: a connection bound to a Layer's lifetime. */
export const layerConnection = <E, R>(
  make: Effect.Effect<McpConnection, E, Scope.Scope | R>
): Layer.Layer<McpConnectionService, E, Exclude<R, Scope.Scope>> => Layer.effect(McpConnectionService, make)
