/**
 * Asking a TURN server, before ICE, whether it can be reached and accepts our credentials.
 *
 * Neither libjuice (node-datachannel) nor werift tells its user that a TURN server refused an
 * allocation: ICE just has no relay candidate and the connection times out. When the relay is the
 * only possible path (`iceTransportPolicy: "relay"`, or a network where UDP is blocked and only
 * TURN over TCP is left) the stacks check first, with one Allocate transaction (RFC 8656 with the
 * long-term credential mechanism: an unauthenticated request, its 401 with realm and nonce, then
 * the signed request), and fail with a typed `RelayUnavailable` that says why. A granted
 * allocation is released at once (Refresh with lifetime 0). The messages are werift's STUN codec.
 *
 * Node only (UDP and TCP sockets).
 *
 * @since 0.1.0
 */
import * as Dgram from "node:dgram"
import * as Net from "node:net"
import * as Tls from "node:tls"
import { Effect } from "effect"
import { classes, makeIntegrityKey, Message, methods, parseMessage } from "werift"
import type { IceServer } from "../../protocol/Envelope.ts"
import { RelayUnavailable } from "../peer/Transport.ts"

/** One TURN server URL with its credentials. */
export interface TurnServer {
  readonly url: string
  readonly host: string
  readonly port: number
  /** How we reach the server (the relayed traffic itself is always UDP). */
  readonly transport: "udp" | "tcp" | "tls"
  readonly username: string | undefined
  readonly credential: string | undefined
}

/** What the server said. */
export type TurnCheckResult =
  | { readonly _tag: "Allocated" }
  | { readonly _tag: "Refused"; readonly code: number; readonly reason: string }
  | { readonly _tag: "Unreachable"; readonly reason: string }

const URL_PATTERN = /^(stun|stuns|turn|turns):([^:?]+|\[[^\]]+\])(?::(\d+))?(?:\?transport=(udp|tcp))?$/

/** The TURN URLs of an ICE server list, in order. */
export const turnServers = (servers: ReadonlyArray<IceServer>): Array<TurnServer> =>
  servers.flatMap((server) =>
    server.urls.flatMap((url): Array<TurnServer> => {
      const match = URL_PATTERN.exec(url)
      if (match === null || (match[1] !== "turn" && match[1] !== "turns")) return []
      const [, scheme, host, port, transport] = match
      return [{
        url,
        host: host!.replace(/^\[|\]$/g, ""),
        port: Number(port ?? (scheme === "turns" ? 5349 : 3478)),
        transport: scheme === "turns" ? "tls" : transport === "tcp" ? "tcp" : "udp",
        username: server.username,
        credential: server.credential
      }]
    })
  )

/** The ICE servers with only `keep` of their URLs (servers left without a URL are dropped). */
export const onlyUrls = (servers: ReadonlyArray<IceServer>, keep: (url: string) => boolean): Array<IceServer> =>
  servers.flatMap((server) => {
    const urls = server.urls.filter(keep)
    return urls.length === 0 ? [] : [{ ...server, urls }]
  })

/** `<unix expiry>:<id>` TURN REST usernames: seconds since their expiry, if past. */
const expiredFor = (username: string | undefined, nowMs: number): number | undefined => {
  const expiry = Number(/^(\d+):/.exec(username ?? "")?.[1])
  return Number.isFinite(expiry) && expiry * 1000 < nowMs ? Math.round(nowMs / 1000 - expiry) : undefined
}

/** A readable reason for a check that did not allocate. */
export const describe = (server: TurnServer, result: Exclude<TurnCheckResult, { _tag: "Allocated" }>, nowMs: number): string => {
  if (result._tag === "Unreachable") return `unreachable over ${server.transport.toUpperCase()} (${result.reason})`
  const expired = expiredFor(server.username, nowMs)
  const why = result.code === 401
    ? expired !== undefined
      ? `; the credentials expired ${expired} s ago (the gateway mints them per session, valid AICONEXUS_TURN_TTL_SECONDS)`
      : "; the gateway's AICONEXUS_TURN_SECRET must equal the TURN server's static-auth-secret"
    : ""
  return `the server refused the allocation (${result.code} ${result.reason})${why}`
}

/** A message channel to the server: UDP datagrams or a framed TCP stream. */
interface Wire {
  readonly send: (bytes: Uint8Array) => void
  onMessage: (bytes: Buffer) => void
  onError: (reason: string) => void
  readonly close: () => void
}

const udpWire = (server: TurnServer): Wire => {
  const socket = Dgram.createSocket(Net.isIPv6(server.host) ? "udp6" : "udp4")
  const wire: Wire = {
    send: (bytes) => socket.send(bytes, server.port, server.host, (error) => error && wire.onError(error.message)),
    onMessage: () => undefined,
    onError: () => undefined,
    close: () => {
      try {
        socket.close()
      } catch {
        // already closed
      }
    }
  }
  socket.on("message", (bytes) => wire.onMessage(bytes))
  socket.on("error", (error) => wire.onError(error.message))
  return wire
}

/** A stream to the server: TCP, or TLS checked against Node's CAs (`NODE_EXTRA_CA_CERTS` adds one). */
const streamWire = (server: TurnServer): Wire => {
  const socket = server.transport === "tls"
    ? Tls.connect({ host: server.host, port: server.port, ...(Net.isIP(server.host) === 0 ? { servername: server.host } : {}) })
    : Net.connect({ host: server.host, port: server.port })
  const ready = server.transport === "tls" ? "secureConnect" : "connect"
  let buffered = Buffer.alloc(0)
  let open = false
  const pending: Array<Uint8Array> = []
  const wire: Wire = {
    send: (bytes) => (open ? socket.write(bytes) : pending.push(bytes)),
    onMessage: () => undefined,
    onError: () => undefined,
    close: () => socket.destroy()
  }
  socket.on(ready, () => {
    open = true
    pending.splice(0).forEach((bytes) => socket.write(bytes))
  })
  socket.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk])
    // STUN over a stream: each message is its 20-byte header plus the length it declares.
    while (buffered.length >= 20 && buffered.length >= 20 + buffered.readUInt16BE(2)) {
      const size = 20 + buffered.readUInt16BE(2)
      wire.onMessage(buffered.subarray(0, size))
      buffered = buffered.subarray(size)
    }
  })
  socket.on("error", (error) => wire.onError(error.message))
  return wire
}

/** Sends `request` (again every 250 ms over UDP) until a response to it arrives or the deadline. */
const transaction = (wire: Wire, server: TurnServer, request: Message, deadline: number, key?: Buffer) =>
  new Promise<Message | string>((resolve) => {
    const bytes = request.bytes
    const timers: Array<ReturnType<typeof setTimeout>> = []
    const done = (value: Message | string) => {
      timers.forEach(clearTimeout)
      resolve(value)
    }
    wire.onMessage = (data) => {
      const message = parseMessage(data, key) ?? parseMessage(data)
      if (message !== undefined && message.transactionIdHex === request.transactionIdHex) done(message)
    }
    wire.onError = (reason) => done(reason)
    const remaining = deadline - Date.now()
    timers.push(setTimeout(() => done(`no answer within ${Math.round(remaining)} ms`), Math.max(0, remaining)))
    wire.send(bytes)
    if (server.transport === "udp") {
      for (let at = 250; at < remaining; at *= 2) timers.push(setTimeout(() => wire.send(bytes), at))
    }
  })

const UDP_TRANSPORT = 0x11000000

const errorOf = (message: Message): { readonly code: number; readonly reason: string } => {
  const value = message.getAttributeValue("ERROR-CODE") as [number, string] | undefined
  return { code: value?.[0] ?? 0, reason: value?.[1] ?? "error" }
}

const allocate = async (server: TurnServer, timeoutMs: number): Promise<TurnCheckResult> => {
  const deadline = Date.now() + timeoutMs
  const wire = server.transport === "udp" ? udpWire(server) : streamWire(server)
  try {
    const first = await transaction(
      wire,
      server,
      new Message(methods.ALLOCATE, classes.REQUEST).setAttribute("REQUESTED-TRANSPORT", UDP_TRANSPORT).setAttribute("LIFETIME", 60),
      deadline
    )
    if (typeof first === "string") return { _tag: "Unreachable", reason: first }
    if (first.messageClass === classes.RESPONSE) return { _tag: "Allocated" }
    const realm = first.getAttributeValue("REALM") as string | undefined
    const nonce = first.getAttributeValue("NONCE") as Buffer | undefined
    if (errorOf(first).code !== 401 || realm === undefined || nonce === undefined) return { _tag: "Refused", ...errorOf(first) }
    if (server.username === undefined || server.credential === undefined) {
      return { _tag: "Refused", code: 401, reason: "the server wants credentials and the gateway sent none" }
    }
    const key = makeIntegrityKey(server.username, realm, server.credential)
    const signed = (method: methods, lifetime: number) =>
      new Message(method, classes.REQUEST)
        .setAttribute("REQUESTED-TRANSPORT", UDP_TRANSPORT)
        .setAttribute("LIFETIME", lifetime)
        .setAttribute("USERNAME", server.username!)
        .setAttribute("REALM", realm)
        .setAttribute("NONCE", nonce)
        .addMessageIntegrity(key)
    const second = await transaction(wire, server, signed(methods.ALLOCATE, 60), deadline, key)
    if (typeof second === "string") return { _tag: "Unreachable", reason: second }
    if (second.messageClass !== classes.RESPONSE) return { _tag: "Refused", ...errorOf(second) }
    // Release the allocation; the answer does not matter.
    wire.send(signed(methods.REFRESH, 0).bytes)
    await new Promise((resolve) => setTimeout(resolve, 20))
    return { _tag: "Allocated" }
  } finally {
    wire.close()
  }
}

/** One Allocate transaction with `server`, within `timeoutMs`. */
export const check = (server: TurnServer, timeoutMs = 2_000): Effect.Effect<TurnCheckResult> =>
  Effect.promise(() => safeAllocate(server, timeoutMs))

/** `allocate`, with a socket that could not even be made reported as unreachable. */
const safeAllocate = (server: TurnServer, timeoutMs: number): Promise<TurnCheckResult> =>
  allocate(server, timeoutMs).catch((error: unknown) => ({ _tag: "Unreachable", reason: error instanceof Error ? error.message : String(error) }))

/**
 * Checks at most once per server and credentials within `ttlMs` (default 5 minutes): the gateway
 * mints one credential per session, so the connections of a session share the answer, and a
 * network that changed is asked again. At most `capacity` answers are kept (the oldest go first).
 */
export const cached = (capacity = 64, ttlMs = 5 * 60_000) => {
  const answers = new Map<string, { readonly at: number; readonly answer: Promise<TurnCheckResult> }>()
  return (server: TurnServer, timeoutMs?: number): Effect.Effect<TurnCheckResult> =>
    Effect.promise(() => {
      const key = `${server.url} ${server.username ?? ""} ${server.credential ?? ""}`
      const now = Date.now()
      const known = answers.get(key)
      if (known !== undefined && now - known.at < ttlMs) return known.answer
      answers.delete(key)
      if (answers.size >= capacity) answers.delete(answers.keys().next().value!)
      const answer = safeAllocate(server, timeoutMs ?? 2_000)
      answers.set(key, { at: now, answer })
      return answer
    })
}

/**
 * Requires a relay: checks the servers in order and succeeds with the first that allocates,
 * or fails with the reason of the first one that did not.
 */
export const requireRelay = (
  servers: ReadonlyArray<TurnServer>,
  ask: (server: TurnServer) => Effect.Effect<TurnCheckResult>
): Effect.Effect<TurnServer, RelayUnavailable> =>
  Effect.gen(function*() {
    if (servers.length === 0) return yield* new RelayUnavailable({ url: "(none)", reason: "the gateway sent no TURN server (AICONEXUS_TURN_URLS)" })
    let first: RelayUnavailable | undefined
    for (const server of servers) {
      const result = yield* ask(server)
      if (result._tag === "Allocated") return server
      first ??= new RelayUnavailable({ url: server.url, reason: describe(server, result, Date.now()) })
    }
    return yield* first!
  })
