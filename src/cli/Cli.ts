/**
 * The `aiconexus` command tree and how it runs (`main.ts` is the entry point).
 *
 * Each subcommand's module is imported only when that subcommand runs (`--version` and a bad
 * argument load none of them: the agent and gateway code, WebRTC stacks and Redis client take
 * seconds to load on a busy machine); `--help` of the root loads them all for their descriptions.
 *
 * @since 0.1.0
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import * as NodeServices from "@effect/platform-node/NodeServices"
import * as Cause from "effect/Cause"
import { Command } from "effect/cli"
import * as Config from "effect/Config"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as References from "effect/References"
import * as Runtime from "effect/Runtime"
import * as Usage from "./Usage.ts"

type Subcommand =
  | typeof import("./GatewayCommand.ts").command
  | typeof import("./DemoCommand.ts").command
  | typeof import("./AgentCommands.ts").keygen
  | typeof import("./AgentCommands.ts").discover
  | typeof import("./AgentCommands.ts").agent
  | typeof import("./McpCommand.ts").command

/** The subcommands, each loaded on demand; the order is the order of `--help`. */
const subcommands: ReadonlyArray<readonly [string, () => Promise<Subcommand>]> = [
  ["gateway", () => import("./GatewayCommand.ts").then((m) => m.command)],
  ["demo", () => import("./DemoCommand.ts").then((m) => m.command)],
  ["keygen", () => import("./AgentCommands.ts").then((m) => m.keygen)],
  ["discover", () => import("./AgentCommands.ts").then((m) => m.discover)],
  ["agent", () => import("./AgentCommands.ts").then((m) => m.agent)],
  ["mcp", () => import("./McpCommand.ts").then((m) => m.command)]
]

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

/**
 * The subcommands a command line needs: the first word that names one (words after it are its
 * arguments, which may happen to be names too), none for a bare `--version`, else all (for help).
 */
export const needed = (args: ReadonlyArray<string>) => {
  const word = args.find((arg) => subcommands.some(([name]) => name === arg))
  const named = subcommands.find(([name]) => name === word)
  if (named !== undefined) return [named]
  return args.length === 1 && args[0] === "--version" ? [] : subcommands
}

/** Runs the command line `args` (without `node` and the script) to the end of the process. */
export const main = async (args: ReadonlyArray<string>, version: string): Promise<void> => {
  // `aiconexus mcp` over stdio: stdout is the MCP protocol's alone.
  if (args[0] === "mcp") (await import("./McpCommand.ts")).keepStdoutForProtocol()
  const commands = await Promise.all(needed(args).map(([, load]) => load()))
  const root = Command.make("aiconexus").pipe(
    Command.withDescription("AIConexus: AI agents talking peer to peer over WebRTC"),
    Command.withSubcommands(commands)
  )
  Command.runWith(root, { version })(args).pipe(
    Effect.provide(Layer.mergeAll(NodeServices.layer, logLevel, Usage.layer)),
    NodeRuntime.runMain({ teardown })
  )
}
