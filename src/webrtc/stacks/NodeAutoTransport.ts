/**
 * The default stack of the CLI: node-datachannel, and werift over TURN/TCP or TLS where UDP cannot
 * get out.
 *
 * libjuice (inside node-datachannel) speaks TURN over UDP only. On a network that blocks UDP
 * (some corporate and hotel networks let only TCP out) it has no usable candidate at all, while
 * werift can still reach a TURN server over TCP or TLS and relay from there. So, when the gateway's
 * ICE servers include a TURN URL over TCP or TLS (`?transport=tcp`, `turns:`), each connection
 * first asks the UDP TURN server for an allocation (`NodeTurnCheck`, one transaction per gateway
 * session and 5 minutes, cached):
 *
 * - it answers (granted, or refused: UDP gets out either way) → node-datachannel, as usual;
 * - no answer within `probeTimeoutMs` → the TCP and TLS TURN servers are asked, in the gateway's
 *   order; at the first that grants one, this connection uses werift with that TURN server only
 *   (`relay_tcp` / `relay_tls`); if they refuse our credentials the connection fails with a typed
 *   `RelayUnavailable` rather than timing out later; if none answers either (the server is down),
 *   node-datachannel tries the direct paths.
 *
 * The peer may use any stack: the two interoperate. Without a TCP or TLS TURN URL there is nothing
 * to fall back to, so no check is made. TLS is checked against Node's CAs (`NODE_EXTRA_CA_CERTS`
 * adds a private one), as werift's TURN client does. The service's stack properties (`maxMessageSize`,
 * `prepareRemoteOffer`, ...) are the ones of the stack chosen for the newest connection; one
 * agent's connections normally share one network, so they all get the same stack.
 *
 * @since 0.1.0
 */
import { Effect, Layer } from "effect"
import type { PeerConnectionOptions } from "../peer/Transport.ts"
import { RelayUnavailable, Transport } from "../peer/Transport.ts"
import * as NodeDataChannelTransport from "./NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "./NodeWeriftTransport.ts"
import * as TurnCheck from "./NodeTurnCheck.ts"

/** How the automatic choice is made. */
export interface AutoOptions {
  /** How long to wait for the UDP TURN server before trying TCP (default 1500 ms; twice that over TCP). */
  readonly probeTimeoutMs?: number
  /** Passed to node-datachannel. */
  readonly bindAddress?: string
}

/** Which stack a connection with these ICE servers gets, and why. */
export type Choice =
  | { readonly stack: "node-datachannel"; readonly reason: string }
  | { readonly stack: "werift"; readonly reason: string; readonly turn: TurnCheck.TurnServer }

/** Decides the stack for one connection (see the module comment). */
export const choose = (
  options: PeerConnectionOptions,
  ask: (server: TurnCheck.TurnServer) => Effect.Effect<TurnCheck.TurnCheckResult>
): Effect.Effect<Choice, RelayUnavailable> =>
  Effect.gen(function*() {
    const turns = TurnCheck.turnServers(options.iceServers)
    const stream = turns.filter((server) => server.transport !== "udp")
    if (stream.length === 0) return { stack: "node-datachannel", reason: "no TURN server over TCP or TLS to fall back to" } as const
    const udp = turns.find((server) => server.transport === "udp")
    const overUdp = udp === undefined ? undefined : yield* ask(udp)
    if (overUdp !== undefined && overUdp._tag !== "Unreachable") {
      if (overUdp._tag === "Refused" && options.iceTransportPolicy === "relay") {
        return yield* new RelayUnavailable({ url: udp!.url, reason: TurnCheck.describe(udp!, overUdp, Date.now()) })
      }
      return { stack: "node-datachannel", reason: `UDP reaches ${udp!.url}` } as const
    }
    const why = udp === undefined ? "no UDP TURN server" : `no answer over UDP from ${udp.url}`
    let first: RelayUnavailable | undefined
    let answered = false
    for (const server of stream) {
      const result = yield* ask(server)
      answered ||= result._tag === "Refused"
      if (result._tag === "Allocated") return { stack: "werift", reason: `${why}; TURN over ${server.transport.toUpperCase()} at ${server.url} works`, turn: server } as const
      first ??= new RelayUnavailable({ url: server.url, reason: `${why}, and ${TurnCheck.describe(server, result, Date.now())}` })
    }
    // A TURN server answered over TCP but not over UDP: UDP is blocked here, and the relay, the
    // only way left, refused us. When none answered at all the server is down: ICE gets its chance.
    if (first !== undefined && (answered || options.iceTransportPolicy === "relay")) return yield* first
    return { stack: "node-datachannel", reason: `${why}; no TURN server over TCP or TLS answered either` } as const
  })

/** The automatic stack as a service. */
export const make = (auto: AutoOptions = {}): Transport["Service"] => {
  const ndc = NodeDataChannelTransport.make(auto.bindAddress === undefined ? {} : { bindAddress: auto.bindAddress })
  const werift = {
    tcp: NodeWeriftTransport.make({ turnTransport: "tcp", turnOnly: true }),
    tls: NodeWeriftTransport.make({ turnTransport: "tls", turnOnly: true })
  }
  const check = TurnCheck.cached()
  const ask = (server: TurnCheck.TurnServer) => check(server, (auto.probeTimeoutMs ?? 1_500) * (server.transport === "udp" ? 1 : 2))
  let current: Transport["Service"] = ndc
  const reported = new Set<string>()
  return Transport.of({
    get name() {
      return current.name
    },
    create: (options) =>
      Effect.gen(function*() {
        const choice = yield* choose(options, ask)
        if (!reported.has(choice.reason)) {
          // A few reasons per gateway (server set); forgotten past 32 so the set stays small.
          if (reported.size >= 32) reported.clear()
          reported.add(choice.reason)
          yield* Effect.logInfo(`WebRTC stack: ${choice.stack} (${choice.reason})`)
        }
        current = choice.stack === "werift" ? werift[choice.turn.transport === "tls" ? "tls" : "tcp"] : ndc
        return yield* current.create(options)
      }),
    prepareRemoteOffer: (sdp, context) => current.prepareRemoteOffer(sdp, context),
    get maxMessageSize() {
      return current.maxMessageSize
    },
    get supportsIceRestart() {
      return current.supportsIceRestart
    },
    get supportsRollback() {
      return current.supportsRollback
    },
    // Neither stack underneath resolves mDNS names.
    resolvesMdns: false
  })
}

/** The automatic stack: node-datachannel, werift over TURN/TCP where UDP is blocked. */
export const layer = (auto: AutoOptions = {}): Layer.Layer<Transport> => Layer.sync(Transport, () => make(auto))
