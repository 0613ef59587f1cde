/**
 * `aiconexus gateway`: runs a signaling gateway node until SIGINT/SIGTERM.
 *
 * Settings come from the `AICONEXUS_*` environment variables (see the README); the flags here
 * override the most common ones.
 *
 * @since 0.1.0
 */
import { networkInterfaces } from "node:os"
import { join } from "node:path"
import { Cause, Console, Effect, Layer, Option } from "effect"
import { Command, Flag } from "effect/cli"
import * as Gateway from "../gateway/Gateway.ts"
import * as GatewayConfig from "../gateway/GatewayConfig.ts"
import { portFlag } from "./Ports.ts"
import { reportFailure, warnIfKeyInGitWorkTree } from "./Terminal.ts"

/**
 * The node flag with which `npm start` caps V8's young generation: left to its default size, the
 * young generation stays resident after a burst of registrations and an idle gateway holds a few
 * times more memory per agent (docs/deployment.md, "Running it" and "Sizing").
 */
const YOUNG_GENERATION_FLAG = "--max-semi-space-size"

const youngGenerationCapped = (): boolean =>
  [...process.execArgv, ...(process.env.NODE_OPTIONS ?? "").split(/\s+/)]
    // V8 takes its flags with `_` or `-` between the words.
    .some((flag) => flag.replaceAll("_", "-").startsWith(YOUNG_GENERATION_FLAG))

/** Where `npm run build:web` writes the browser page. */
const DEFAULT_WEB_DIR = new URL("../../dist/web", import.meta.url).pathname

const isWildcard = (host: string) => host === "0.0.0.0" || host === "::"

/** The URLs of the machine's other addresses, for a gateway listening on all of them. */
const interfaceUrls = (url: string, host: string): ReadonlyArray<string> => {
  const port = new URL(url).port
  return Object.values(networkInterfaces()).flatMap((addresses) => addresses ?? [])
    .filter((a) => !a.internal && (host === "::" || a.family === "IPv4") && !a.address.startsWith("fe80:"))
    .map((a) => `ws://${a.family === "IPv6" ? `[${a.address}]` : a.address}:${port}/ws`)
}

/** Prints where the gateway listens and who it is, once it does (a note about node's flags first). */
const announce = (config: GatewayConfig.GatewayConfig) => Layer.effectDiscard(Effect.gen(function*() {
  const gateway = yield* Gateway.Gateway
  if (!youngGenerationCapped()) {
    yield* Console.log(`note: node runs without ${YOUNG_GENERATION_FLAG}; idle agents cost 2-5x more memory (see docs/deployment.md, Running it; npm start sets it)`)
  }
  yield* Console.log(`AIConexus gateway listening on ${gateway.url}`)
  if (config.publicUrls.length > 0) yield* Console.log(`agents dial: ${config.publicUrls.join(", ")}`)
  else if (isWildcard(config.host)) {
    const others = interfaceUrls(gateway.url, config.host)
    if (others.length > 0) yield* Console.log(`also on this machine's addresses: ${others.join(", ")}`)
  }
  yield* Console.log(`gateway DID: ${gateway.did}`)
  yield* Console.log(`health: ${gateway.httpUrl}/health  metrics: ${gateway.httpUrl}/metrics`)
  if (config.webDir !== undefined) yield* Console.log(`browser page: ${gateway.httpUrl}/`)
}))

/** The `gateway` command. */
export const command = Command.make(
  "gateway",
  {
    host: Flag.String("host").pipe(Flag.withDescription("Address to listen on (default 127.0.0.1)"), Flag.optional),
    port: portFlag("port").pipe(Flag.withDescription("Port to listen on (default 8787; 0 picks a free one)"), Flag.optional),
    dataDir: Flag.String("data-dir").pipe(
      Flag.withDescription("Where the gateway keeps its identity (default: gateway in the user data folder, or AICONEXUS_DATA_DIR)"),
      Flag.optional
    ),
    web: Flag.Boolean("web").pipe(Flag.withDescription("Serve the browser page at / (built by npm run build:web)"), Flag.withDefault(false)),
    webDir: Flag.String("web-dir").pipe(Flag.withDescription(`The page's folder (default ${DEFAULT_WEB_DIR}); implies --web`), Flag.optional)
  },
  ({ dataDir, host, port, web, webDir }) =>
    Effect.gen(function*() {
      const fromEnv = yield* GatewayConfig.fromEnv
      const config: GatewayConfig.GatewayConfig = {
        ...fromEnv,
        host: Option.getOrElse(host, () => fromEnv.host),
        port: Option.getOrElse(port, () => fromEnv.port),
        dataDir: Option.getOrElse(dataDir, () => fromEnv.dataDir),
        webDir: Option.getOrElse(webDir, () => web ? DEFAULT_WEB_DIR : undefined)
      }
      yield* warnIfKeyInGitWorkTree(config.keyFile ?? join(config.dataDir, "gateway-identity.json"))
      return yield* Layer.launch(announce(config).pipe(Layer.provideMerge(Gateway.layerFromConfig(config))))
    }).pipe(
      // A gateway that cannot start (configuration, port, key file) says why in one line and exits 1;
      // interrupts are the normal stop.
      Effect.catchCause((cause) => Cause.hasInterruptsOnly(cause) ? Effect.failCause(cause) : reportFailure(cause))
    )
).pipe(Command.withDescription("Run a signaling gateway until interrupted (in-memory, or a cluster node with AICONEXUS_REDIS_URL)"))
