/**
 * A connection to a local MCP server (a child process over stdio, or streamable HTTP) that
 * survives the server crashing: a call that finds it gone fails at once with `UNAVAILABLE` and
 * starts a restart; calls made while it restarts wait for it (bounded); after `maxRestarts`
 * failed or repeated restarts within `windowMs` it stays down and every call fails with
 * `UNAVAILABLE`, reported once on the log. No call ever waits for a server that is not there.
 *
 * Its lifecycle is the table-driven `ConnectionMachine`.
 *
 * @since 0.1.0
 */
import { Clock, Context, Duration, Effect, Exit, Schema, Scope, SubscriptionRef } from "effect"
import { McpClient, McpProtocol, type McpSchema } from "effect/ai"
import type { McpClientError } from "effect/ai/McpClientError"
import type { HttpClient } from "effect/http/HttpClient"
import { ChildProcess, CommandLine } from "effect/process"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import type { JsonArgs } from "../agent/Agent.ts"
import { CapabilityError } from "../agent/CapabilityError.ts"
import * as StateMachine from "../machine/StateMachine.ts"

/** States of a connection to an MCP server. */
export type ConnectionState = "running" | "restarting" | "failed"
type ConnectionEvent = "crashed" | "restarted" | "gave_up"

/** The lifecycle of an `McpConnection`. */
export const ConnectionMachine: StateMachine.Machine<ConnectionState, ConnectionEvent> = {
  name: "McpConnection",
  initial: "running",
  states: ["running", "restarting", "failed"],
  events: ["crashed", "restarted", "gave_up"],
  table: {
    running: { crashed: "restarting" },
    restarting: { restarted: "running", gave_up: "failed" },
    failed: {}
  }
}

/** The code of a call the MCP server could not take (it stopped, is restarting, or gave up). */
export const UNAVAILABLE = "UNAVAILABLE"
/** The code of a call the MCP tool answered with an error (`isError`). */
export const TOOL_ERROR = "TOOL_ERROR"

/** How a connection restarts. */
export interface McpConnectionConfig {
  /** Restarts allowed within `windowMs` before it gives up (default 3 in 60 s). */
  readonly maxRestarts?: number
  readonly windowMs?: number
  /** How long a call waits for a restart in progress (default 15 s). */
  readonly restartWaitMs?: number
}

/** A connection to a local MCP server. */
export interface McpConnection {
  /** The server's tools (as listed when it last started). */
  readonly tools: Effect.Effect<ReadonlyArray<McpSchema.Tool>>
  /** Calls a tool; a crash, a timeout or a protocol failure is a `CapabilityError` with its code. */
  readonly call: (name: string, args: JsonArgs, timeoutMs: number) => Effect.Effect<McpSchema.CallToolResult, CapabilityError>
  readonly state: SubscriptionRef.SubscriptionRef<ConnectionState>
}

/** The MCP server could not be started or reached. */
export class McpStartFailed extends Schema.TaggedError<McpStartFailed>()("McpStartFailed", {
  target: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `cannot start the MCP server ${this.target}: ${this.reason}`
  }
}

const startFailed = (target: string) => (error: McpClientError | CommandLine.CommandLineError) =>
  new McpStartFailed({ target, reason: error._tag === "CommandLineError" ? error.message : describe(error) })

/** An MCP client over stdio of `commandLine` (split like a shell would, without expansions). */
export const stdio = (commandLine: string): Effect.Effect<McpClient.McpClient, McpStartFailed, Scope.Scope | ChildProcessSpawner> =>
  Effect.gen(function*() {
    const words = yield* Effect.fromResult(CommandLine.template(Object.assign([commandLine], { raw: [commandLine] })))
    const [program, ...args] = words as Array<string>
    const transport = yield* McpClient.stdio({
      command: ChildProcess.make(program!, args, { stderr: "inherit" }),
      protocol: McpProtocol.v2025_11_25
    })
    return yield* McpClient.make({ name: "aiconexus", version: "0.1.0", timeout: "15 seconds" }).pipe(
      Effect.provideService(McpClient.Transport, transport)
    )
  }).pipe(Effect.mapError(startFailed(`'${commandLine.slice(0, 200)}'`)))

/** An MCP client over streamable HTTP at `url`. */
export const http = (url: string): Effect.Effect<McpClient.McpClient, McpStartFailed, Scope.Scope | HttpClient> =>
  Effect.gen(function*() {
    const transport = yield* McpClient.http({ url, protocol: McpProtocol.v2025_11_25 })
    return yield* McpClient.make({ name: "aiconexus", version: "0.1.0", timeout: "15 seconds" }).pipe(
      Effect.provideService(McpClient.Transport, transport)
    )
  }).pipe(Effect.mapError(startFailed(url.slice(0, 200))))

const describe = (error: McpClientError): string => {
  const reason = error.reason as { readonly _tag: string; readonly description?: string; readonly message?: string }
  return `${reason._tag}: ${reason.description ?? reason.message ?? ""}`.slice(0, 512)
}

/**
 * Connects with `connect` (and reconnects with it after a crash); the connection ends with the
 * scope. Fails if the first connection fails.
 */
export const make = <E, R>(
  connect: Effect.Effect<McpClient.McpClient, E, Scope.Scope | R>,
  config: McpConnectionConfig = {}
): Effect.Effect<McpConnection, E | McpClientError, Scope.Scope | R> =>
  Effect.gen(function*() {
    const context = yield* Effect.context<R>()
    const maxRestarts = config.maxRestarts ?? 3
    const windowMs = config.windowMs ?? 60_000
    const restartWaitMs = config.restartWaitMs ?? 15_000
    const machine = yield* StateMachine.makeRef(ConnectionMachine)
    const outer = yield* Effect.scope

    /** One started server: its client, its scope and its tools. */
    const start = Effect.gen(function*() {
      const scope = yield* Scope.fork(outer)
      const started = yield* Effect.gen(function*() {
        const client = yield* connect
        const tools = yield* client.listTools()
        return { client, tools, scope }
      }).pipe(Scope.provide(scope), Effect.provideContext(context), Effect.onError(() => Scope.close(scope, Exit.void)))
      return started
    })
    let current = yield* start
    let failure = ""
    const restarts: Array<number> = []

    const restart = Effect.gen(function*() {
      yield* Scope.close(current.scope, Exit.void)
      let attempt = 0
      while (true) {
        const now = yield* Clock.currentTimeMillis
        while (restarts.length > 0 && restarts[0]! <= now - windowMs) restarts.shift()
        if (restarts.length >= maxRestarts) {
          failure = `the MCP server stopped ${restarts.length + 1} times within ${windowMs} ms; not restarted again`
          yield* Effect.logError(failure)
          return yield* machine.apply("gave_up")
        }
        restarts.push(now)
        const next = yield* Effect.result(start)
        if (next._tag === "Success") {
          current = next.success
          yield* Effect.logWarning(`the MCP server was restarted (${next.success.tools.length} tools)`)
          return yield* machine.apply("restarted")
        }
        yield* Effect.logWarning(`restarting the MCP server failed: ${String(next.failure)}`)
        yield* Effect.sleep(Duration.millis(250 * 2 ** attempt++))
      }
    }).pipe(Effect.orDie)

    /** The server stopped: the first to notice starts the restart. */
    const crashed = (reason: string) =>
      Effect.gen(function*() {
        // Only from `running` (an atomic test-and-set): when several calls notice the crash, the
        // others find it `restarting` (or `failed`) already, which is no error of theirs.
        const first = yield* machine.apply("crashed").pipe(
          Effect.as(true),
          Effect.catchTag("InvalidTransition", (error) => error.state === "restarting" || error.state === "failed" ? Effect.succeed(false) : Effect.die(error))
        )
        if (!first) return
        yield* Effect.logWarning(`the MCP server stopped (${reason}); restarting`)
        yield* Effect.forkIn(restart, outer)
      })

    const unavailable = (reason: string) => new CapabilityError({ code: UNAVAILABLE, reason })

    /** The running server, after a restart in progress if there is one. */
    const running = Effect.gen(function*() {
      const state = yield* SubscriptionRef.get(machine.state)
      if (state === "restarting") {
        yield* StateMachine.until(machine.state, (s) => s !== "restarting").pipe(
          Effect.timeoutOrElse({ duration: restartWaitMs, orElse: () => Effect.fail(unavailable("the MCP server is restarting")) })
        )
      }
      if ((yield* SubscriptionRef.get(machine.state)) === "failed") return yield* unavailable(failure)
      return current
    })

    return {
      state: machine.state,
      tools: Effect.sync(() => current.tools),
      call: (name, args, timeoutMs) =>
        Effect.gen(function*() {
          const { client, tools } = yield* running
          const tool = tools.find((t) => t.name === name)
          if (tool === undefined) return yield* new CapabilityError({ code: "UNKNOWN_CAPABILITY", reason: `the MCP server has no tool ${name.slice(0, 128)}` })
          return yield* client.callTool({ tool, arguments: args }, { timeout: Duration.millis(timeoutMs) }).pipe(
            Effect.catch((error) => {
              switch (error.reason._tag) {
                case "TransportError":
                case "ClosedError":
                  return Effect.andThen(crashed(describe(error)), Effect.fail(unavailable(`the MCP server stopped (${describe(error)}); it is being restarted`)))
                case "TimeoutError":
                  return Effect.fail(new CapabilityError({ code: "TIMEOUT", reason: `the MCP tool gave no result within ${timeoutMs} ms` }))
                default:
                  return Effect.fail(new CapabilityError({ code: "INTERNAL_ERROR", reason: `the MCP server failed: ${describe(error)}` }))
              }
            })
          )
        })
    } satisfies McpConnection
  })

/** The tag of the connection an Effect app provides. */
export class McpConnectionService extends Context.Service<McpConnectionService, McpConnection>()("aiconexus/mcp/McpConnection") {}
