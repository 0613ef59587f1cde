#!/usr/bin/env node
/**
 * The `aiconexus` command line.
 *
 * @since 0.1.0
 */
import { NodeRuntime, NodeServices } from "@effect/platform-node"
import { Cause, Config, Effect, Exit, Layer, References, Runtime } from "effect"
import { Command } from "effect/cli"
import * as AgentCommands from "./AgentCommands.ts"
import * as DemoCommand from "./DemoCommand.ts"
import * as GatewayCommand from "./GatewayCommand.ts"
import * as McpCommand from "./McpCommand.ts"

const root = Command.make("aiconexus").pipe(
  Command.withDescription("AIConexus: AI agents talking peer to peer over WebRTC"),
  Command.withSubcommands([
    GatewayCommand.command,
    DemoCommand.command,
    AgentCommands.keygen,
    AgentCommands.discover,
    AgentCommands.agent,
    McpCommand.command
  ])
)

// The log level comes from AICONEXUS_LOG_LEVEL (Info by default).
const logLevel = Layer.effect(
  References.MinimumLogLevel,
  Config.LogLevel("AICONEXUS_LOG_LEVEL").pipe(Config.withDefault("Info" as const), Effect.orDie)
)

// SIGINT/SIGTERM interrupt the program: for a server that is the normal way to stop, so exit 0.
// A command that finished has closed its scopes (BYE, UNREGISTER sent): it exits now rather than
// waiting for sockets to finish their close handshakes.
const teardown: Runtime.Teardown = (exit, onExit) => {
  if (Exit.isSuccess(exit)) return process.exit(process.exitCode ?? 0)
  return Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)
}

// `aiconexus mcp` over stdio: stdout is the MCP protocol's alone.
if (process.argv[2] === "mcp") McpCommand.keepStdoutForProtocol()

root.pipe(
  Command.run({ version: "0.1.0" }),
  Effect.provide(Layer.mergeAll(NodeServices.layer, logLevel)),
  NodeRuntime.runMain({ teardown })
)
