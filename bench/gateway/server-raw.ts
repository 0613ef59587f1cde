/**
 * A minimal WebSocket relay with no checks (the baseline), or with the project's Schema decoding
 * of each envelope (the floor for doing the checks at all), for `npm run bench -- gateway`.
 *
 * argv[2]: `plain` or `schema`. A client's first frame is `{"hello":"<id>"}` (answered with
 * `{"hello":"ok"}`); every later frame is `JSON.parse`d to read `to` and forwarded as is to the
 * client that said hello with that id. `schema` also decodes the envelope header and the OFFER
 * payload with the Schemas `Accept.accept` uses, and drops frames that fail them.
 * After the hello, the frame `{"type":"HEARTBEAT"}` is answered with `{"type":"HEARTBEAT_ACK"}` (the
 * heartbeat baseline: an application-level frame each way, as browsers need).
 * Same stdin commands and `listening` line as server-gateway.ts.
 */
import { Result, Schema } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import * as Envelope from "../../src/protocol/Envelope.ts"
import { collect, commands, emit, profileCommand } from "./common.ts"

const mode = process.argv[2] === "schema" ? "schema" : "plain"
const decodeHeader = Schema.decodeUnknownResult(Envelope.Header, { onExcessProperty: "error" })
const decodeOffer = Schema.decodeUnknownResult(Envelope.Payloads.OFFER, { onExcessProperty: "error" })

const HEARTBEAT = "{\"type\":\"HEARTBEAT\"}"
const HEARTBEAT_ACK = "{\"type\":\"HEARTBEAT_ACK\"}"

const clients = new Map<string, WebSocket>()
let dropped = 0

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 64 * 1024, perMessageDeflate: false })
server.on("connection", (socket) => {
  let id: string | undefined
  socket.on("error", () => undefined)
  socket.on("close", () => {
    if (id !== undefined && clients.get(id) === socket) clients.delete(id)
  })
  socket.on("message", (data, isBinary) => {
    if (isBinary) return
    const text = data.toString()
    if (id !== undefined && text === HEARTBEAT) return void socket.send(HEARTBEAT_ACK)
    let message: { hello?: unknown; to?: unknown }
    try {
      message = JSON.parse(text)
    } catch {
      dropped++
      return
    }
    if (id === undefined) {
      if (typeof message.hello !== "string") return void socket.close(4002)
      id = message.hello
      clients.set(id, socket)
      socket.send("{\"hello\":\"ok\"}")
      return
    }
    if (mode === "schema") {
      const header = decodeHeader(message)
      if (Result.isFailure(header) || header.success.type !== "OFFER" || Result.isFailure(decodeOffer(header.success.payload))) {
        dropped++
        return
      }
    }
    const destination = typeof message.to === "string" ? clients.get(message.to) : undefined
    if (destination === undefined) dropped++
    else destination.send(text)
  })
})

server.on("listening", () => {
  const address = server.address()
  const port = address === null || typeof address === "string" ? 0 : address.port
  emit({ event: "listening", url: `ws://127.0.0.1:${port}/`, mode })
})

commands((line) => {
  if (profileCommand(line)) return
  if (line === "gc") {
    emit({ event: "gc", memory: collect(), dropped })
  } else if (line === "exit") {
    process.exit(0)
  }
})
