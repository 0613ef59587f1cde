/**
 * The gateway's `/ws` endpoint: WebSocket upgrades on the node:http server, answered by a `ws`
 * server in noServer mode, and the sessions they start (PROTOCOL.md 4.1 and 4.2).
 *
 * Before any WebSocket work an upgrade must offer the IoAP subprotocol (else 400) and pass
 * admission (429 per IP, 503 when the node is full). A session holds no fiber while it waits:
 * it is its socket's listeners and its state, and one watchdog sweeps the sessions (handshakes
 * often, registered sessions seldom) and closes those that stay silent past their timeout. On
 * shutdown every session is closed with 1001.
 *
 * @since 0.1.0
 */
import { type IncomingMessage, type Server, STATUS_CODES } from "node:http"
import type { Duplex } from "node:stream"
import { Effect } from "effect"
import { type WebSocket, WebSocketServer } from "ws"
import { CloseCode, SUBPROTOCOL } from "../protocol/GatewaySocket.ts"
import type * as Identity from "../protocol/Identity.ts"
import * as Admission from "./Admission.ts"
import * as ConnectionGuard from "./ConnectionGuard.ts"
import * as DialledUrl from "./DialledUrl.ts"
import type { GatewayConfig } from "./GatewayConfig.ts"
import * as GatewayMetrics from "./GatewayMetrics.ts"
import * as Session from "./Session.ts"

/** The path agents dial. */
export const PATH = "/ws"

/** Whether the client offered the IoAP subprotocol. */
const offersSubprotocol = (header: string | undefined): boolean =>
  header !== undefined && header.split(",").some((protocol) => protocol.trim() === SUBPROTOCOL)

/** Answers an upgrade request with a plain HTTP response and closes the connection. */
const answer = (socket: Duplex, status: number, body: string): void => {
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  )
}

const ignore = () => undefined

/** A session's socket: a `ws` WebSocket and its TCP socket (one object per session, methods shared). */
class WsConnection implements Session.Connection {
  readonly #ws: WebSocket
  readonly #socket: Duplex
  readonly dialled: DialledUrl.Dialled
  readonly address: string
  /** The gateway closed the session for abuse or dropped it: charged to the client's address (`Admission.penalize`). */
  readonly #onAbuse: () => void
  #corked = false
  /** False once closed for abuse: nothing more is read (`stopReading`). */
  #reading = true

  constructor(ws: WebSocket, socket: Duplex, dialled: DialledUrl.Dialled, address: string, onAbuse: () => void) {
    this.#ws = ws
    this.#socket = socket
    this.dialled = dialled
    this.address = address
    this.#onAbuse = onAbuse
  }

  /** Frames written in one turn of the event loop leave in one write (one system call). */
  send(frame: string): void {
    if (!this.#corked) {
      this.#corked = true
      this.#socket.cork()
      process.nextTick(uncork, this)
    }
    this.#ws.send(frame)
  }

  uncork(): void {
    this.#corked = false
    this.#socket.uncork()
  }

  close(code: number, reason: string): void {
    this.#ws.close(code, reason)
    if (!Admission.isAbuseClose(code)) return
    this.#onAbuse()
    // Closed for what it sent: the rest of its input is not read at all (the kernel's window closes
    // on the sender, instead of the gateway reading and dropping megabytes a second), the gateway
    // half-closes once the close frame is out, and the socket is dropped `ABUSE_LINGER_MS` later,
    // time enough for the close frame to reach a client that reads.
    this.#reading = false
    stopReading(this.#ws, this.#socket)
    this.#socket.end()
    setTimeout(destroySocket, ABUSE_LINGER_MS, this.#socket).unref()
  }

  bufferedBytes(): number {
    return this.#ws.bufferedAmount
  }

  pause(): void {
    this.#ws.pause()
  }

  abort(): void {
    this.#onAbuse()
    this.#ws.terminate()
  }

  resume(): void {
    if (this.#reading) this.#ws.resume()
  }
}

/**
 * How long a socket closed for abuse is kept, unread, after its close frame (ms): the close frame
 * reaches a client that reads well within it; the client's own close is never read.
 */
export const ABUSE_LINGER_MS = 2000

/** Reads nothing more from `socket`: `ws`'s reader is detached and `ws` paused (so its reader's drain does not resume it). */
const stopReading = (ws: WebSocket, socket: Duplex): void => {
  for (const listener of socket.listeners("data")) socket.removeListener("data", listener as (chunk: unknown) => void)
  ws.pause()
}
const destroySocket = (socket: Duplex) => socket.destroy()

const uncork = (connection: WsConnection) => connection.uncork()
const uncorkSocket = (socket: Duplex) => socket.uncork()

/** The `ws` server's options: frames up to `maxMessageBytes`, no compression. */
export const serverOptions = (config: GatewayConfig) => ({
  noServer: true,
  maxPayload: config.maxMessageBytes,
  perMessageDeflate: false,
  // \`ws\` hands over every frame of a read at once (its default): the session handles a turn's
  // share and holds the rest, and stops reading its socket while it holds 64 frames or 64 KiB,
  // so what one socket gets parsed in a turn stays bounded. (One frame per turn, \`ws\`'s
  // \`allowSynchronousEvents: false\`, cost a setImmediate per frame: half the saturated relay rate.)
  // The sessions are tracked in \`serve\`: ws's own set would hold each socket again, with a listener.
  clientTracking: false,
  handleProtocols: (protocols: Set<string>) => (protocols.has(SUBPROTOCOL) ? SUBPROTOCOL : false)
})

/** How often the watchdog looks at sessions still in their handshake: a tenth of the shorter timeout, within 10 ms – 1 s. */
export const sweepPeriodMs = (config: GatewayConfig): number =>
  Math.min(1000, Math.max(10, Math.floor(Math.min(config.handshakeTimeoutMs, config.sessionTimeoutMs) / 10)))

/**
 * How many handshake sweeps pass between two sweeps of the registered sessions: those are swept
 * every tenth of the session timeout, at most every 5 s. A sweep touches every session it covers
 * (a cache miss each): registered sessions are the many, so they are not swept twice a second.
 */
export const registeredSweepEvery = (config: GatewayConfig): number => {
  const fast = sweepPeriodMs(config)
  return Math.max(1, Math.round(Math.min(5000, Math.max(fast, Math.floor(config.sessionTimeoutMs / 10))) / fast))
}

/**
 * Serves `/ws` on `server` until the scope closes: takes over the server's `upgrade` events
 * (call it after the HTTP routes are served, which registered their own upgrade handling).
 */
export const serve = Effect.fnUntraced(function*(server: Server, options: {
  readonly config: GatewayConfig
  readonly identity: Identity.Identity
  readonly admission: Admission.Admission
}) {
  const { admission, config, identity } = options
  const node = yield* Session.makeNode({ config, identity, rates: Session.makeRates(config) })
  const { clock, runFork } = node
  // Every open session is in one of the two: the watchdog sweeps handshakes often, registered sessions seldom.
  const handshaking = new Set<Session.Session>()
  const registered = new Set<Session.Session>()
  const wss = new WebSocketServer(serverOptions(config))

  const refuse = (socket: Duplex, status: number, body: string) => {
    GatewayMetrics.refused(status).updateUnsafe(1, node.metrics)
    answer(socket, status, body)
  }

  const start = (ws: WebSocket, socket: Duplex, dialled: DialledUrl.Dialled, ip: string) => {
    const penalize = () => admission.penalize(ip, clock.currentTimeMillisUnsafe())
    const session = Session.start(node, new WsConnection(ws, socket, dialled, ip, penalize))
    handshaking.add(session)
    ws.on("message", (data, isBinary) => session.receive(isBinary ? data as Buffer : data.toString()))
    // A frame `ws` cannot read (too large: 1009, not UTF-8, bad framing): it closes the socket itself; charged as abuse.
    ws.on("error", penalize)
    ws.on("close", () => {
      if (handshaking.delete(session) || registered.delete(session)) runFork(session.closed)
    })
  }

  const guard = ConnectionGuard.install(server, config, admission.trustedProxies, (reason) => {
    GatewayMetrics.dropped(reason).updateUnsafe(1, node.metrics)
  })

  const onUpgrade = (request: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", ignore)
    const path = (request.url ?? "").split("?", 1)[0]
    if (path !== PATH || request.method !== "GET") return answer(socket, 404, "not found")
    if (!offersSubprotocol(request.headers["sec-websocket-protocol"])) {
      return refuse(socket, 400, `offer the WebSocket subprotocol ${SUBPROTOCOL}`)
    }
    const forwarded = request.headers["x-forwarded-for"]
    const fromProxy = admission.trustedProxies.has(Admission.normalizeIp(request.socket.remoteAddress ?? "unknown"))
    const forwardedHost = request.headers["x-forwarded-host"]
    const dialled = DialledUrl.dialled(request.headers.host, Array.isArray(forwardedHost) ? forwardedHost[0] : forwardedHost, fromProxy)
    const ip = Admission.clientIp(
      request.socket.remoteAddress,
      Array.isArray(forwarded) ? forwarded.join(",") : forwarded,
      admission.trustedProxies
    )
    const decision = admission.admit(ip, clock.currentTimeMillisUnsafe())
    if (decision !== "admitted") return refuse(socket, decision, decision === 503 ? "gateway full" : "too many connections")
    // The connection counts until it closes, whether or not the WebSocket handshake succeeds
    // (a socket closes once: `on` spares the wrapper `once` would keep for every session).
    socket.on("close", () => admission.release(ip))
    guard.upgraded(request.socket)
    // The 101 response and the CHALLENGE leave in one write (one system call less per registration).
    socket.cork()
    wss.handleUpgrade(request, socket, head, (ws) => start(ws, socket, dialled, ip))
    process.nextTick(uncorkSocket, socket)
  }

  // The routes' server registered its own upgrade handling; `/ws` is served here instead.
  server.removeAllListeners("upgrade")
  server.on("upgrade", onUpgrade)

  // One watchdog for every session (each checks its own deadline): handshakes every sweep, the
  // registered sessions every `registeredSweepEvery` sweeps; a session that registered moves over.
  const every = registeredSweepEvery(config)
  let sweeps = 0
  yield* Effect.forkScoped(Effect.forever(Effect.andThen(
    Effect.sleep(sweepPeriodMs(config)),
    Effect.sync(() => {
      const now = clock.currentTimeMillisUnsafe()
      for (const session of handshaking) {
        if (session.handshaking) session.expire(now)
        else {
          handshaking.delete(session)
          registered.add(session)
        }
      }
      if (++sweeps % every === 0) for (const session of registered) session.expire(now)
    })
  )))

  yield* Effect.addFinalizer(() =>
    Effect.gen(function*() {
      server.off("upgrade", onUpgrade)
      guard.remove()
      const open = [...handshaking, ...registered]
      handshaking.clear()
      registered.clear()
      for (const session of open) yield* session.end(CloseCode.goingAway, "gateway shutting down")
      wss.close()
    })
  )
})
