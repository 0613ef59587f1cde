/**
 * `aiconexus keygen`, `aiconexus discover` and `aiconexus agent listen|send|call`.
 *
 * Agent commands take `--gateway URL` (repeatable, for failover; default ws://127.0.0.1:8787/ws),
 * `--identity FILE` (created if absent; default `identity.json` in the user's data folder, see
 * `NodeDataHome`; the pinned gateway DIDs are kept beside it in `known-gateways.json`),
 * `--transport auto|node-datachannel|werift`, `--ice-transport-policy all|relay` and
 * `--allow-insecure-ws` (plain `ws://` to a gateway that is not on loopback).
 * One-shot commands (`discover`, `agent send|call`) give up at once when no gateway answers;
 * `agent listen` reconnects for ever and prints each change of its connection.
 *
 * @since 0.1.0
 */
import { dirname, join } from "node:path"
import * as NodeServices from "@effect/platform-node/NodeServices"
import { Cause, Config, Console, Context, Effect, Layer, References, Schema, Stream } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { FetchHttpClient } from "effect/http"
import { Agent, type AgentConfig, type PeerSession, type Served } from "../agent/Agent.ts"
import { type ClientState, GatewayClient, GatewayIdentityMismatch } from "../client/GatewayClient.ts"
import { KnownGateways } from "../client/KnownGateways.ts"
import * as NodeWebSocket from "../client/NodeWebSocket.ts"
import * as McpCapabilities from "../mcp/McpCapabilities.ts"
import * as McpConnection from "../mcp/McpConnection.ts"
import * as Did from "../protocol/Did.ts"
import * as IdentityFile from "../protocol/IdentityFile.ts"
import * as NodeDataHome from "../protocol/NodeDataHome.ts"
import * as CandidatePolicy from "../webrtc/peer/CandidatePolicy.ts"
import * as PeerMetrics from "../webrtc/peer/PeerMetrics.ts"
import * as NodeAutoTransport from "../webrtc/stacks/NodeAutoTransport.ts"
import * as NodeDataChannelTransport from "../webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../webrtc/stacks/NodeWeriftTransport.ts"
import { printable, reportFailure, warnIfKeyInGitWorkTree } from "./Terminal.ts"
import * as MetricsServer from "./MetricsServer.ts"
import { portFlag } from "./Ports.ts"

const DEFAULT_GATEWAY = "ws://127.0.0.1:8787/ws"
const DEFAULT_IDENTITY = NodeDataHome.identityFile()
const IDENTITY_DEFAULT_TEXT = "identity.json in the user data folder, or AICONEXUS_IDENTITY"

const identityFlag = Flag.String("identity").pipe(
  Flag.withDescription(`Identity file (created if absent; default ${IDENTITY_DEFAULT_TEXT}: ${DEFAULT_IDENTITY})`),
  Flag.withDefault(DEFAULT_IDENTITY)
)
const gatewayFlag = Flag.String("gateway").pipe(
  Flag.withDescription(`Gateway URL, repeatable for failover (default ${DEFAULT_GATEWAY})`),
  Flag.atLeast(0)
)
const transportFlag = Flag.Literals("transport", ["auto", "node-datachannel", "werift"]).pipe(
  Flag.withDescription("WebRTC stack: auto (node-datachannel; werift over TURN/TCP where UDP is blocked), node-datachannel or werift"),
  Flag.withDefault("auto" as const)
)
const policyFlag = Flag.Literals("ice-transport-policy", ["all", "relay"]).pipe(
  Flag.withDescription("relay: connect through the gateway's TURN servers only, never directly (default all)"),
  Flag.withDefault("all" as const)
)
const insecureFlag = Flag.Boolean("allow-insecure-ws").pipe(
  Flag.withDescription("Allow plain ws:// to a gateway that is not on loopback (development only: signaling is signed, but not private)"),
  Flag.withDefault(false)
)
export const shared = { identity: identityFlag, gateway: gatewayFlag, transport: transportFlag, iceTransportPolicy: policyFlag, allowInsecureWs: insecureFlag }

/** Where a session's traffic goes: the selected candidate pair, e.g. `relay_tcp 203.0.113.1:50000 -> srflx 192.0.2.2:4000`. */
const describePath = (session: PeerSession) =>
  Effect.map(session.link.peer.stats, ({ selectedPair }) => {
    if (selectedPair === undefined) return "unknown"
    const { local, remote } = PeerMetrics.pathLabels(selectedPair)
    return `${local} ${selectedPair.localAddress} -> ${remote} ${selectedPair.remoteAddress}`
  })

/** Where the gateway pins of an identity file are kept. */
const pinsFile = (identity: string) => join(dirname(identity), "known-gateways.json")

/** A new gateway DID is refused: say how to accept it if the change was intended. */
const explainMismatch = (error: GatewayIdentityMismatch, identity: string) =>
  `${printable(error.message)}; if the gateway's key was replaced on purpose, remove the entry for ` +
  `${new URL(error.url).protocol}//${new URL(error.url).host} from ${pinsFile(identity)} and run again`

/**
 * The lines `agent listen` prints about its gateway connection: registered, lost (and why,
 * reconnecting), reconnected. Repeated failed attempts while reconnecting print nothing more.
 */
export const statusLines = () => {
  let registeredBefore = false
  let last: string | undefined
  return (state: ClientState): string | undefined => {
    let line: string | undefined
    if (state._tag === "Registered") {
      line = `${registeredBefore ? "reconnected to" : "registered at"} ${state.session.url}`
      registeredBefore = true
    } else if (state._tag === "Reconnecting") {
      const reason = printable(state.error.reason)
      line = registeredBefore
        ? `lost the gateway: ${reason}; reconnecting`
        : `cannot reach the gateway at ${state.error.url}: ${reason}; retrying`
    }
    // Another failed attempt for the same reason is not news.
    if (line === undefined || line === last) return undefined
    last = line
    return line
  }
}

/**
 * Runs `use` with an Agent built from the shared flags (and its GatewayClient and context); errors
 * become one clear line and exit 1. `oneShot`: the first attempt at each gateway URL must succeed
 * (a command that does one thing); otherwise the agent reconnects for ever and prints each change
 * of its connection.
 */
export const withAgent = <A, E>(
  flags: {
    readonly identity: string
    readonly gateway: ReadonlyArray<string>
    readonly transport: "auto" | "node-datachannel" | "werift"
    readonly iceTransportPolicy: "all" | "relay"
    readonly allowInsecureWs: boolean
  },
  options: Omit<AgentConfig, "urls" | "identity">,
  use: (
    agent: Agent["Service"],
    client: GatewayClient["Service"],
    context: Context.Context<Agent | GatewayClient>
  ) => Effect.Effect<A, E, import("effect").Scope.Scope>,
  oneShot = true
) =>
  Effect.gen(function*() {
    yield* warnIfKeyInGitWorkTree(flags.identity)
    const identity = yield* IdentityFile.loadOrCreate(flags.identity)
    const transport = flags.transport === "werift"
      ? NodeWeriftTransport.layer()
      : flags.transport === "node-datachannel"
      ? NodeDataChannelTransport.layer()
      : NodeAutoTransport.layer()
    const pins = KnownGateways.layerFile(pinsFile(flags.identity)).pipe(Layer.provide(NodeServices.layer))
    const context = yield* Layer.build(
      Agent.layer({
        urls: flags.gateway.length === 0 ? [DEFAULT_GATEWAY] : flags.gateway,
        identity,
        // Same-machine agents and gateways are common with the CLI: loopback candidates allowed.
        candidatePolicy: CandidatePolicy.allowAll,
        iceTransportPolicy: flags.iceTransportPolicy,
        allowInsecure: flags.allowInsecureWs,
        ...(oneShot ? { failFast: true, openTimeoutMs: 5_000, handshakeTimeoutMs: 5_000 } : {}),
        ...options
      }).pipe(Layer.provide(Layer.mergeAll(transport, pins, NodeWebSocket.layerWebSocketConstructor)))
    )
    const client = Context.get(context, GatewayClient)
    if (!oneShot) {
      // Each change of the connection, as it happens; a final stop ends the command with its reason.
      const status = statusLines()
      yield* client.changes.pipe(
        Stream.runForEach((state) => {
          const line = status(state)
          return line === undefined ? Effect.void : Console.log(line)
        }),
        Effect.forkScoped
      )
    }
    // One-shot: registered first, so a gateway that cannot be reached or refuses us is the error,
    // not what follows. (`listen` starts its metrics server first: a bad port is said at once.)
    if (oneShot) yield* client.session
    return yield* Effect.raceFirst(
      use(Context.get(context, Agent), client, context),
      // The client stopped for good (SESSION_REPLACED, a gateway identity mismatch): end with its reason.
      client.changes.pipe(
        Stream.filter((state) => state._tag === "Closed"),
        Stream.runHead,
        Effect.flatMap((closed) => closed._tag === "Some" && closed.value._tag === "Closed" ? Effect.fail(closed.value.error) : Effect.never)
      )
    )
  }).pipe(
    Effect.scoped,
    // A one-shot command prints its result or one error line; logs only when AICONEXUS_LOG_LEVEL asks.
    (self) => oneShot && process.env.AICONEXUS_LOG_LEVEL === undefined ? Effect.provideService(self, References.MinimumLogLevel, "Error") : self,
    Effect.catchCause((cause) => {
      const error = Cause.squash(cause)
      return error instanceof GatewayIdentityMismatch
        ? Effect.andThen(Console.error(`error: ${explainMismatch(error, flags.identity)}`), Effect.sync(() => {
          process.exitCode = 1
        }))
        : reportFailure(cause)
    })
  )

/** Calling one's own DID over WebRTC cannot work: say so before trying. */
const notSelf = (agent: Agent["Service"], did: string) =>
  did === agent.did ? Effect.fail(new Error(`${did} is this agent's own DID (from its identity file); call another agent`)) : Effect.void

/** `keygen [--out FILE]`: a new identity file; prints its DID. */
export const keygen = Command.make(
  "keygen",
  { out: Flag.String("out").pipe(Flag.withDescription(`Where to write it (default ${IDENTITY_DEFAULT_TEXT}: ${DEFAULT_IDENTITY})`), Flag.withDefault(DEFAULT_IDENTITY)) },
  Effect.fn(function*({ out }) {
    yield* warnIfKeyInGitWorkTree(out)
    const identity = yield* IdentityFile.loadOrCreate(out).pipe(Effect.result)
    if (identity._tag === "Failure") {
      yield* Console.error(`error: ${identity.failure.message}`)
      process.exitCode = 1
      return
    }
    yield* Console.log(identity.success.did)
  })
).pipe(Command.withDescription("Create an identity (did:key, Ed25519), or print the DID of an existing one"))

/** `discover [--capability ID] [--tag T]`: the agents registered at the gateway. */
export const discover = Command.make(
  "discover",
  {
    ...shared,
    capability: Flag.String("capability").pipe(Flag.withDescription("Only agents serving this capability id"), Flag.optional),
    tag: Flag.String("tag").pipe(Flag.withDescription("Only capabilities with this tag"), Flag.optional)
  },
  (flags) =>
    withAgent(flags, {}, (agent) =>
      Effect.gen(function*() {
        const query = {
          ...(flags.capability._tag === "Some" ? { capability: flags.capability.value } : {}),
          ...(flags.tag._tag === "Some" ? { tag: flags.tag.value } : {})
        }
        const agents = yield* agent.discover(query)
        if (agents.length === 0) yield* Console.log("no agents found")
        for (const entry of agents) {
          yield* Console.log(`${entry.did}  ${printable(entry.name ?? "")}  ${entry.capabilities.map((c) => printable(c.id)).join(", ")}`)
        }
      }))
).pipe(Command.withDescription("List the agents registered at the gateway"))

const listen = Command.make(
  "listen",
  {
    ...shared,
    capability: Flag.String("capability").pipe(
      Flag.withDescription("A capability id to serve (repeatable; given, it replaces the default echo); every capability the CLI serves answers with its arguments"),
      Flag.atLeast(0)
    ),
    metricsPort: portFlag("metrics-port").pipe(
      Flag.withDescription("Serve Prometheus metrics at http://HOST:PORT/metrics (0 picks a free port)"),
      Flag.withFallbackConfig(Config.Int("AICONEXUS_METRICS_PORT")),
      Flag.optional
    ),
    metricsHost: Flag.String("metrics-host").pipe(
      Flag.withDescription("Address the metrics server binds (default 127.0.0.1)"),
      Flag.withDefault("127.0.0.1")
    ),
    mcp: Flag.String("mcp").pipe(
      Flag.withDescription("Serve the tools of this MCP server, started as a child over stdio ('COMMAND ARGS…'); only --allow DIDs may call"),
      Flag.optional
    ),
    mcpUrl: Flag.String("mcp-url").pipe(
      Flag.withDescription("Serve the tools of the MCP server at this streamable HTTP URL; only --allow DIDs may call"),
      Flag.optional
    ),
    allow: Flag.String("allow").pipe(
      Flag.withDescription("A DID that may call the --mcp tools (repeatable; default: nobody)"),
      Flag.withSchema(Did.Did),
      Flag.atLeast(0)
    )
  },
  (flags) => {
    // --mcp / --mcp-url: the MCP server's tools, deny-by-default (McpCapabilities.allowOnly).
    const mcp = flags.mcp._tag === "Some"
      ? McpConnection.make(McpConnection.stdio(flags.mcp.value))
      : flags.mcpUrl._tag === "Some"
      ? McpConnection.make(McpConnection.http(flags.mcpUrl.value)).pipe(Effect.provide(FetchHttpClient.layer))
      : undefined
    const capabilities = flags.capability.length === 0 ? (mcp === undefined ? ["echo"] : []) : flags.capability
    const echo = capabilities.map((id): Served => ({
      capability: { id },
      // The built-in behaviour: the result is the arguments it was called with.
      handler: (args, from) => Effect.as(Console.log(`call ${printable(id)} from ${from}: ${printable(JSON.stringify(args))}`), args)
    }))
    const withServed = <A, E>(
      use: (agent: Agent["Service"], client: GatewayClient["Service"], served: ReadonlyArray<Served>) => Effect.Effect<A, E, import("effect").Scope.Scope>
    ) =>
      mcp === undefined
        ? withAgent(flags, { serve: echo }, (agent, client) => use(agent, client, echo), false)
        : Effect.gen(function*() {
          const tools = yield* McpCapabilities.served(yield* mcp)
          if (flags.allow.length === 0) yield* Console.error("no --allow DID: nobody may call the MCP tools")
          const serve = [...echo, ...tools]
          return yield* withAgent(flags, { serve, authorize: McpCapabilities.allowOnly(flags.allow) }, (agent, client) => use(agent, client, serve), false)
        }).pipe(Effect.scoped, Effect.catchCause(reportFailure))
    return withServed((agent, client, served) =>
      Effect.gen(function*() {
        if (flags.metricsPort._tag === "Some") {
          const url = yield* MetricsServer.serve({ host: flags.metricsHost, port: flags.metricsPort.value })
          yield* Console.log(`metrics at ${url}`)
        }
        yield* client.session
        yield* Console.log(`listening as ${agent.did} serving ${served.map((s) => printable(s.capability.id)).join(", ")}`)
        yield* agent.sessions.pipe(
          Stream.runForEach((session) =>
            Effect.andThen(
              Effect.flatMap(describePath(session), (path) => Console.log(`session from ${session.remote} path ${path}`)),
              session.intents.pipe(
                Stream.runForEach((intent) => Console.log(`intent from ${session.remote}: ${printable(JSON.stringify(intent))}`)),
                Effect.forkScoped
              )
            ))
        )
      }))
  }
).pipe(Command.withDescription("Serve capabilities (echo by default) and print what arrives, until interrupted"))

const didArgument = Argument.String("did").pipe(Argument.withDescription("The peer's DID"), Argument.withSchema(Did.Did))

const send = Command.make(
  "send",
  { ...shared, did: didArgument, text: Argument.String("text").pipe(Argument.withDescription("The message")) },
  (flags) =>
    withAgent(flags, {}, (agent) =>
      Effect.gen(function*() {
        yield* notSelf(agent, flags.did)
        const session = yield* agent.connect(flags.did)
        yield* Console.log(`path ${yield* describePath(session)}`)
        yield* session.intent({ query: flags.text })
        yield* Console.log(`sent to ${flags.did}`)
        yield* session.close
      }))
).pipe(Command.withDescription("Connect to a peer over WebRTC and send it a text (an INTENT)"))

const JsonObject = Schema.fromJsonString(Schema.Record(Schema.String, Schema.Json))

const call = Command.make(
  "call",
  {
    ...shared,
    did: didArgument,
    capability: Argument.String("capability").pipe(Argument.withDescription("The capability id")),
    args: Argument.String("json").pipe(Argument.withDescription("Arguments, a JSON object"), Argument.withSchema(JsonObject)),
    timeout: Flag.Int("timeout-ms").pipe(Flag.withDescription("Deadline of the call (default 30000)"), Flag.withDefault(30_000))
  },
  (flags) =>
    withAgent(flags, {}, (agent) =>
      Effect.gen(function*() {
        yield* notSelf(agent, flags.did)
        const session = yield* agent.connect(flags.did)
        yield* Console.log(`path ${yield* describePath(session)}`)
        const result = yield* session.request(flags.capability, flags.args, { timeoutMs: flags.timeout })
        yield* Console.log(JSON.stringify(result ?? null))
        yield* session.close
      }))
).pipe(Command.withDescription("Connect to a peer over WebRTC and call one of its capabilities"))

/** `agent listen|send|call`. */
export const agent = Command.make("agent").pipe(
  Command.withDescription("Run an agent"),
  Command.withSubcommands([listen, send, call])
)
