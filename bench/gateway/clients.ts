/**
 * Bare `ws` clients of the three kinds of server the gateway benchmark drives: our gateway (the
 * real handshake: CHALLENGE, signed REGISTER, REGISTERED), the raw relay (`{"hello":id}`) and
 * PeerJS (`/peerjs?key&id&token`, then OPEN).
 */
import WebSocket from "ws"
import type * as Identity from "../../src/protocol/Identity.ts"
import { signSync } from "./common.ts"

/** What a handshake may fail with. */
export class ConnectFailed extends Error {
  readonly status: number | undefined
  constructor(message: string, status?: number) {
    super(message)
    this.status = status
  }
}

/** Where a client connects from (a loopback address of its own, to stand for another host) and what it registers. */
export interface ClientOptions {
  readonly localAddress?: string
  readonly capabilities?: ReadonlyArray<{ readonly id: string; readonly description?: string }>
  /** Told the gateway's DID once registered. */
  readonly onRegistered?: (gatewayDid: string) => void
}

const open = (url: string, protocols: Array<string>, localAddress?: string): WebSocket =>
  new WebSocket(url, protocols, {
    perMessageDeflate: false,
    skipUTF8Validation: true,
    maxPayload: 1024 * 1024,
    ...(localAddress === undefined ? {} : { localAddress })
  })

/**
 * Opens `url`, lets `step` answer frames until it returns `true` (ready), and resolves with the
 * socket, its own listeners removed.
 */
const handshake = (socket: WebSocket, onOpen: () => void, step: (frame: string) => boolean, timeoutMs: number) =>
  new Promise<WebSocket>((resolve, reject) => {
    const timer = setTimeout(() => fail(new ConnectFailed("handshake timeout")), timeoutMs)
    const cleanup = () => {
      clearTimeout(timer)
      socket.off("message", onMessage)
      socket.off("close", onClose)
      socket.off("unexpected-response", onRefused)
      socket.off("open", onOpen)
    }
    const fail = (error: ConnectFailed) => {
      cleanup()
      socket.terminate()
      reject(error)
    }
    const onMessage = (data: WebSocket.RawData) => {
      try {
        if (step(data.toString())) {
          cleanup()
          resolve(socket)
        }
      } catch (cause) {
        fail(new ConnectFailed(cause instanceof Error ? cause.message : String(cause)))
      }
    }
    const onClose = (code: number) => fail(new ConnectFailed(`closed with ${code} during the handshake`))
    const onRefused = (_request: unknown, response: { statusCode?: number }) =>
      fail(new ConnectFailed(`upgrade refused with ${response.statusCode}`, response.statusCode))
    socket.on("error", () => undefined)
    socket.on("message", onMessage)
    socket.on("close", onClose)
    socket.on("unexpected-response", onRefused)
    socket.on("open", onOpen)
  })

/** Connects to our gateway and registers `identity` (REGISTER signed with node:crypto). */
export const gateway = (url: string, identity: Identity.Identity, timeoutMs = 30_000, options: ClientOptions = {}) => {
  const socket = open(url, ["ioap.v1"], options.localAddress)
  let challenged = false
  let gatewayDid = ""
  return handshake(socket, () => undefined, (frame) => {
    const envelope = JSON.parse(frame) as { type: string; from: string; payload: { nonce: string } }
    if (!challenged) {
      if (envelope.type !== "CHALLENGE") throw new Error(`expected CHALLENGE, got ${envelope.type}`)
      challenged = true
      gatewayDid = envelope.from
      socket.send(signSync(identity, {
        type: "REGISTER",
        to: envelope.from as Identity.Identity["did"],
        payload: { nonce: envelope.payload.nonce, endpoint: url, capabilities: [...(options.capabilities ?? [])] }
      }))
      return false
    }
    if (envelope.type !== "REGISTERED") throw new Error(`expected REGISTERED, got ${frame.slice(0, 300)}`)
    options.onRegistered?.(gatewayDid)
    return true
  }, timeoutMs)
}

/** Connects to the raw relay and says hello as `id` (from `localAddress` when given). */
export const raw = (url: string, id: string, timeoutMs = 30_000, localAddress?: string) => {
  const socket = open(url, [], localAddress)
  return handshake(socket, () => socket.send(JSON.stringify({ hello: id })), (frame) => {
    if (frame !== "{\"hello\":\"ok\"}") throw new Error(`expected the hello answer, got ${frame.slice(0, 200)}`)
    return true
  }, timeoutMs)
}

/** Connects to PeerJS as `id`. */
export const peer = (url: string, id: string, timeoutMs = 30_000) => {
  const socket = open(`${url}?key=peerjs&id=${encodeURIComponent(id)}&token=${globalThis.crypto.randomUUID()}`, [])
  return handshake(socket, () => undefined, (frame) => {
    const message = JSON.parse(frame) as { type: string }
    if (message.type !== "OPEN") throw new Error(`expected OPEN, got ${frame.slice(0, 200)}`)
    return true
  }, timeoutMs)
}

/** Opens a socket to our gateway without registering (resolves once the upgrade succeeded). */
export const unregistered = (url: string, timeoutMs = 30_000, localAddress?: string) =>
  new Promise<WebSocket>((resolve, reject) => {
    const socket = open(url, ["ioap.v1"], localAddress)
    const timer = setTimeout(() => {
      socket.terminate()
      reject(new ConnectFailed("open timeout"))
    }, timeoutMs)
    socket.on("error", () => undefined)
    socket.once("unexpected-response", (_request, response) => {
      clearTimeout(timer)
      socket.terminate()
      reject(new ConnectFailed(`upgrade refused with ${response.statusCode}`, response.statusCode))
    })
    socket.once("close", (code) => {
      clearTimeout(timer)
      reject(new ConnectFailed(`closed with ${code} before opening`))
    })
    socket.once("open", () => {
      clearTimeout(timer)
      resolve(socket)
    })
  })
