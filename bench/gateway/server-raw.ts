/**
 * A minimal WebSocket relay with no checks (the baseline), or with the project's Schema decoding
 * of each envelope (the floor for doing the checks at all), for `npm run bench -- gateway`.
 *
 * argv[2]: `plain`, `schema` or `verify`. A client's first frame is `{"hello":"<id>"}` (answered with
 * `{"hello":"ok"}`); every later frame is `JSON.parse`d to read `to` and forwarded as is to the
 * client that said hello with that id. `schema` also decodes the envelope header and the OFFER
 * payload with the Schemas `Accept.accept` uses, and drops frames that fail them. `verify` does
 * that and then checks each frame's Ed25519 signature with node:crypto, in place: the envelope's
 * signed bytes, its base64url signature decoded by `Buffer`, and a `KeyObject` made once per
 * connection from the DID the client said hello with (the floor plus one verification, at the
 * pace the load comes at, beside the same socket work); it drops frames that fail it.
 * After the hello, the frame `{"type":"HEARTBEAT"}` is answered with `{"type":"HEARTBEAT_ACK"}` (the
 * heartbeat baseline: an application-level frame each way, as browsers need).
 * Same stdin commands and `listening` line as server-gateway.ts.
 */
import * as NodeCrypto from "node:crypto"
import { Result, Schema } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import * as Did from "../../src/protocol/Did.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import { collect, commands, emit, profileCommand } from "./common.ts"

const mode = process.argv[2] === "schema" || process.argv[2] === "verify" ? process.argv[2] : "plain"
// SubjectPublicKeyInfo wrapping of a raw Ed25519 key (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const keyOf = (did: string): NodeCrypto.KeyObject | undefined => {
  const raw = Did.decode(did)
  return Result.isFailure(raw) ? undefined : NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw.success]), format: "der", type: "spki" })
}
const decodeHeader = Schema.decodeUnknownResult(Envelope.Header, { onExcessProperty: "error" })
const decodeOffer = Schema.decodeUnknownResult(Envelope.Payloads.OFFER, { onExcessProperty: "error" })

const HEARTBEAT = "{\"type\":\"HEARTBEAT\"}"
const HEARTBEAT_ACK = "{\"type\":\"HEARTBEAT_ACK\"}"

const clients = new Map<string, WebSocket>()
let dropped = 0

const server = new WebSocketServer({ host: "127.0.0.1", port: 0, maxPayload: 64 * 1024, perMessageDeflate: false })
server.on("connection", (socket) => {
  let id: string | undefined
  let key: NodeCrypto.KeyObject | undefined
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
      if (mode === "verify" && (key = keyOf(id)) === undefined) return void socket.close(4002)
      clients.set(id, socket)
      socket.send("{\"hello\":\"ok\"}")
      return
    }
    if (mode !== "plain") {
      const header = decodeHeader(message)
      if (Result.isFailure(header) || header.success.type !== "OFFER" || Result.isFailure(decodeOffer(header.success.payload))) {
        dropped++
        return
      }
      if (mode === "verify") {
        const envelope = header.success
        const signature = Buffer.from(envelope.signature, "base64url")
        if (envelope.from !== id || !NodeCrypto.verify(null, Envelope.signingBytes(envelope), key!, signature)) {
          dropped++
          return
        }
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
