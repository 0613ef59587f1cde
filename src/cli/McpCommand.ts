/**
 * `aiconexus mcp`: the network as tools for an MCP client (see src/mcp/). It runs an agent and
 * an MCP server over stdio (the way desktop LLM clients start tools), or with `--http PORT`
 * over streamable HTTP on 127.0.0.1 only.
 *
 * Over stdio, stdout carries the protocol and nothing else: logs and messages go to stderr.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"
import { createServer } from "node:http"
import { NodeHttpServer, NodeStdio } from "@effect/platform-node"
import { Console, Context, Effect, Layer, Logger, Option, Schema } from "effect"
import { Command, Flag } from "effect/cli"
import { HttpRouter, HttpServer } from "effect/http"
import * as McpBridge from "../mcp/McpBridge.ts"
import * as Did from "../protocol/Did.ts"
import { shared, withAgent } from "./AgentCommands.ts"
import { portFlag } from "./Ports.ts"

/** The DIDs of a trust file: one a line; blank lines and `#` comments are skipped. */
const readTrustFile = (path: string) =>
  Effect.try({
    try: () => readFileSync(path, "utf8").split("\n").map((l) => l.replace(/#.*/, "").trim()).filter((l) => l !== ""),
    catch: (cause) => new Error(`cannot read the trust file ${path}: ${String(cause)}`)
  }).pipe(
    Effect.flatMap((lines) =>
      Effect.forEach(lines, (line) =>
        Schema.decodeUnknownEffect(Did.Did)(line).pipe(Effect.mapError(() => new Error(`not a DID in ${path}: ${line.slice(0, 80)}`))))
    )
  )

/** Ends when stdin ends: an MCP client closes stdin to stop the server. */
const stdinEnded = Effect.callback<void>((resume) => {
  const done = () => resume(Effect.void)
  process.stdin.once("end", done)
  process.stdin.once("close", done)
  return Effect.sync(() => {
    process.stdin.off("end", done)
    process.stdin.off("close", done)
  })
})

export const command = Command.make(
  "mcp",
  {
    ...shared,
    http: portFlag("http").pipe(
      Flag.withDescription("Serve streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio (0 picks a free port)"),
      Flag.optional
    ),
    trust: Flag.String("trust").pipe(
      Flag.withDescription("A DID whose capabilities with an input schema become tools of their own (repeatable)"),
      Flag.withSchema(Did.Did),
      Flag.atLeast(0)
    ),
    trustFile: Flag.String("trust-file").pipe(Flag.withDescription("A file of trusted DIDs, one a line (# comments)"), Flag.optional),
    refreshMs: Flag.Int("refresh-ms").pipe(Flag.withDescription("How often the directory is read for trusted peers (default 10000)"), Flag.withDefault(10_000)),
    idleMs: Flag.Int("idle-ms").pipe(Flag.withDescription("Close a peer session idle this long (default 60000)"), Flag.withDefault(60_000)),
    timeout: Flag.Int("timeout-ms").pipe(Flag.withDescription("Deadline of a call that gives none (default 30000)"), Flag.withDefault(30_000))
  },
  (flags) =>
    Effect.gen(function*() {
      const fromFile = Option.isSome(flags.trustFile) ? yield* readTrustFile(flags.trustFile.value) : []
      const config: McpBridge.McpBridgeConfig = {
        trusted: [...flags.trust, ...fromFile],
        refreshMs: Math.max(100, flags.refreshMs),
        idleMs: flags.idleMs,
        callTimeoutMs: flags.timeout
      }
      return yield* withAgent(flags, {}, (agent, _client, context) =>
        Effect.gen(function*() {
          const provided = Layer.succeedContext(context)
          if (Option.isSome(flags.http)) {
            const app = HttpRouter.serve(McpBridge.layerHttp(config).pipe(Layer.provide(HttpRouter.layer), Layer.provide(provided)), {
              disableLogger: true,
              disableListenLog: true
            })
            const built = yield* Layer.build(app.pipe(Layer.provideMerge(NodeHttpServer.layer(createServer, { host: "127.0.0.1", port: flags.http.value }))))
            const address = HttpServer.formatAddress(Context.get(built, HttpServer.HttpServer).address)
            yield* Console.error(`mcp at ${address}/mcp as ${agent.did}`)
            return yield* Effect.never
          }
          yield* Layer.build(McpBridge.layerStdio(config).pipe(Layer.provide(NodeStdio.layer), Layer.provide(provided)))
          yield* Console.error(`mcp on stdio as ${agent.did}`)
          yield* stdinEnded
        }))
    }).pipe(
      // stdout is the protocol's: every log line and console message goes to stderr.
      Effect.provide(Logger.layer([Logger.withConsoleError(Logger.formatSimple)])),
      Effect.catch((error) => Console.error(`error: ${error.message}`).pipe(Effect.andThen(Effect.sync(() => (process.exitCode = 1)))))
    )
).pipe(Command.withDescription("Serve the network as MCP tools (discover, call, trusted peers' capabilities) over stdio or --http"))

/** Sends everything written with console.log/info/debug to stderr (a dependency printing there would break stdio MCP). */
export const keepStdoutForProtocol = () => {
  console.log = console.error
  console.info = console.error
  console.debug = console.error
}
