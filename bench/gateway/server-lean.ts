/**
 * A diagnostic server (not one of the benchmark's rows): the gateway's protocol on a bare `ws`
 * server, each frame checked by the project's own `Accept.accept` (run synchronously with
 * `Effect.runSync` on node:crypto) and relayed as is, without the Effect HTTP server, Socket and
 * per-session fibers. The gap between it and the real gateway is what the session machinery
 * costs; the gap between it and the floor is what `Accept.accept` costs.
 *
 * argv[2]: `verify`, `noverify` or `async` (verify with node:crypto's callback form, on the libuv
 * thread pool: each session's frames are still handled one after another, sessions overlap).
 * Same handshake as the gateway (CHALLENGE, signed REGISTER, REGISTERED), same stdin commands and
 * `listening` line as server-gateway.ts.
 *
 *   npx node bench/gateway/server-lean.ts verify   # then drive it with load.ts (kind "gateway")
 */
import * as NodeCrypto from "node:crypto"
import { base64urlnopad } from "@scure/base"
import { Effect, Exit, Layer } from "effect"
import { WebSocketServer, type WebSocket } from "ws"
import * as Accept from "../../src/protocol/Accept.ts"
import { Ed25519 } from "../../src/protocol/Ed25519.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import { commands, emit, signSync } from "./common.ts"

const mode = process.argv[2] === "noverify" ? "noverify" : process.argv[2] === "async" ? "async" : "verify"
const verify = mode !== "noverify"
const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSyncExit(Effect.provide(effect, NodeEd25519.layer))

// node:crypto's verify with a callback runs on the libuv thread pool.
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const publicKeys = new Map<string, NodeCrypto.KeyObject>()
const nodeEd25519 = NodeEd25519.make()
const asyncEd25519 = Layer.succeed(Ed25519, {
  ...nodeEd25519,
  verify: (publicKey, signature, data) =>
    Effect.callback<boolean>((resume) => {
      const id = Buffer.from(publicKey).toString("latin1")
      let key = publicKeys.get(id)
      if (key === undefined) {
        key = NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: "der", type: "spki" })
        publicKeys.set(id, key)
      }
      NodeCrypto.verify(null, data, key, signature, (error, valid) => resume(Effect.succeed(error === null && valid)))
    })
})
const runAsync = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromiseExit(Effect.provide(effect, asyncEd25519))
const identity = Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
const sessions = new Map<string, WebSocket>()

const server = new WebSocketServer({
  host: "127.0.0.1",
  port: 0,
  maxPayload: 64 * 1024,
  perMessageDeflate: false,
  handleProtocols: (protocols) => (protocols.has("ioap.v1") ? "ioap.v1" : false)
})
server.on("connection", (socket) => {
  const nonce = base64urlnopad.encode(globalThis.crypto.getRandomValues(new Uint8Array(32)))
  const replay = ReplayGuard.make({ maxPerSender: 1e7, maxTotal: 1e7 })
  let did: string | undefined
  const handshake: Accept.AcceptContext = {
    maxFrameBytes: 16 * 1024,
    refuseType: (type) => (type === "REGISTER" ? undefined : "UNAUTHORIZED"),
    checkTo: (header) => Effect.succeed(header.to === identity.did),
    replay
  }
  const session: Accept.AcceptContext = {
    maxFrameBytes: 64 * 1024,
    refuseType: (type) => (Envelope.relayedTypes.has(type as Envelope.Type) ? undefined : "UNSUPPORTED_TYPE"),
    get expectedFrom() {
      return did
    },
    checkTo: (header) => Effect.succeed(header.to !== undefined && sessions.has(header.to)),
    replay,
    verifySignature: () => verify
  }
  socket.on("error", () => undefined)
  socket.on("close", () => {
    if (did !== undefined && sessions.get(did) === socket) sessions.delete(did)
  })
  const handle = (result: Exit.Exit<Accept.Accepted, Accept.EnvelopeRejected>) => {
    if (Exit.isFailure(result)) return void socket.close(4000)
    const { envelope, text } = result.value
    if (did === undefined) {
      const register = envelope as Envelope.Envelope<"REGISTER">
      if (register.payload.nonce !== nonce) return void socket.close(4002)
      did = register.from
      sessions.set(did, socket)
      socket.send(signSync(identity, {
        type: "REGISTERED",
        to: register.from,
        correlation_id: register.id,
        payload: { session_id: globalThis.crypto.randomUUID(), heartbeat_interval_ms: 20_000, session_timeout_ms: 60_000, max_message_bytes: 65536, ice_servers: [] }
      }))
      return
    }
    sessions.get(envelope.to!)?.send(text)
  }
  // Async mode: frames of one session in order, one at a time.
  let queue: Promise<void> = Promise.resolve()
  socket.on("message", (data, isBinary) => {
    const frame = isBinary ? (data as Buffer) : data.toString()
    if (mode === "async" && did !== undefined) {
      queue = queue.then(() => runAsync(Accept.accept(frame, session)).then(handle))
    } else {
      handle(run(Accept.accept(frame, did === undefined ? handshake : session)))
    }
  })
  socket.send(signSync(identity, { type: "CHALLENGE", payload: { nonce } }))
})

server.on("listening", () => {
  const address = server.address()
  const port = address === null || typeof address === "string" ? 0 : address.port
  emit({ event: "listening", url: `ws://127.0.0.1:${port}/ws`, did: identity.did })
})

commands((line) => {
  if (line === "exit") process.exit(0)
})
