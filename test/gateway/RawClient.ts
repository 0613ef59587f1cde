/**
 * A bare WebSocket client for gateway tests: sends any frame, sees every frame and the close code.
 */
import { Deferred, Effect, Queue, Schema, Scope } from "effect"
import WebSocket from "ws"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"

/** The server answered the upgrade with an HTTP status instead of switching protocols. */
export class UpgradeRefused extends Schema.TaggedError<UpgradeRefused>()("UpgradeRefused", { status: Schema.Number }) {}

/** A frame did not arrive in time. */
export class NoFrame extends Schema.TaggedError<NoFrame>()("NoFrame", { waitedMs: Schema.Number }) {}

export interface Closed {
  readonly code: number
  readonly reason: string
}

export interface RawClient {
  readonly socket: WebSocket
  readonly send: (frame: string | Uint8Array) => Effect.Effect<void>
  /** The next text frame (waits at most `ms`, real time). */
  readonly next: (ms?: number) => Effect.Effect<string, NoFrame>
  /** The next frame parsed as an envelope. */
  readonly nextEnvelope: (ms?: number) => Effect.Effect<Envelope.Envelope, NoFrame>
  /** Frames until one of `type` arrives (others are skipped). */
  readonly nextOfType: <T extends Envelope.Type>(type: T, ms?: number) => Effect.Effect<Envelope.Envelope<T>, NoFrame>
  /** Resolves when the server closes the socket. */
  readonly closed: Effect.Effect<Closed>
  readonly close: Effect.Effect<void>
}

/** Opens a WebSocket to `url`; closed when the scope closes. */
export const connect = (
  url: string,
  options: { readonly protocols?: ReadonlyArray<string>; readonly headers?: Record<string, string> } = {}
): Effect.Effect<RawClient, UpgradeRefused, Scope.Scope> =>
  Effect.gen(function*() {
    const frames = yield* Queue.unbounded<string>()
    const closed = yield* Deferred.make<Closed>()
    const socket = yield* Effect.acquireRelease(
      Effect.callback<WebSocket, UpgradeRefused>((resume) => {
        const socket = new WebSocket(url, [...(options.protocols ?? ["ioap.v1"])], { headers: options.headers ?? {} })
        socket.on("message", (data, isBinary) => {
          Queue.offerUnsafe(frames, isBinary ? `<binary ${(data as Buffer).length}>` : data.toString())
        })
        socket.on("close", (code, reason) => Deferred.doneUnsafe(closed, Effect.succeed({ code, reason: reason.toString() })))
        socket.on("unexpected-response", (_request, response) => {
          resume(Effect.fail(new UpgradeRefused({ status: response.statusCode ?? 0 })))
          socket.terminate()
        })
        socket.on("error", () => Deferred.doneUnsafe(closed, Effect.succeed({ code: 1006, reason: "error" })))
        socket.on("open", () => resume(Effect.succeed(socket)))
      }),
      (socket) => Effect.sync(() => socket.terminate())
    )
    const next = (ms = 5000) =>
      Queue.take(frames).pipe(
        Effect.timeoutOrElse({ duration: ms, orElse: () => Effect.fail(new NoFrame({ waitedMs: ms })) })
      )
    const nextEnvelope = (ms?: number) => Effect.map(next(ms), (text) => JSON.parse(text) as Envelope.Envelope)
    const nextOfType = <T extends Envelope.Type>(type: T, ms?: number): Effect.Effect<Envelope.Envelope<T>, NoFrame> =>
      Effect.flatMap(nextEnvelope(ms), (envelope) =>
        envelope.type === type ? Effect.succeed(envelope as Envelope.Envelope<T>) : nextOfType(type, ms))
    return {
      socket,
      send: (frame) => Effect.sync(() => socket.send(frame)),
      next,
      nextEnvelope,
      nextOfType,
      closed: Deferred.await(closed),
      close: Effect.sync(() => socket.close(1000))
    }
  })

/** Answers the CHALLENGE with a REGISTER (without waiting for the gateway's answer). */
export const sendRegister = (
  client: RawClient,
  identity: Identity.Identity,
  gatewayDid: string,
  url: string,
  payload: Partial<Envelope.Payload<"REGISTER">> = {}
) =>
  Effect.gen(function*() {
    const challenge = yield* client.nextOfType("CHALLENGE")
    const envelope = yield* Envelope.make(identity, {
      type: "REGISTER",
      to: gatewayDid as never,
      payload: { nonce: challenge.payload.nonce, endpoint: url, capabilities: [], ...payload }
    })
    yield* client.send(Envelope.encode(envelope))
    return { challenge, register: envelope }
  })

/** Answers the CHALLENGE with a REGISTER and waits for REGISTERED. */
export const register = (
  client: RawClient,
  identity: Identity.Identity,
  gatewayDid: string,
  url: string,
  payload: Partial<Envelope.Payload<"REGISTER">> = {}
) =>
  Effect.gen(function*() {
    const sent = yield* sendRegister(client, identity, gatewayDid, url, payload)
    return { ...sent, answer: yield* client.nextEnvelope() }
  })

/** Sends a DISCOVER from a registered client and returns the PEERS answer's payload. */
export const discover = (client: RawClient, identity: Identity.Identity, gatewayDid: string, payload: Envelope.Payload<"DISCOVER">) =>
  Effect.gen(function*() {
    const request = yield* Envelope.make(identity, { type: "DISCOVER", to: gatewayDid as never, payload })
    yield* client.send(Envelope.encode(request))
    return (yield* client.nextOfType("PEERS")).payload
  })

/** Two agents registered at the gateway `url` (of DID `gatewayDid`), on raw clients. */
export const registeredPair = (url: string, gatewayDid: string) =>
  Effect.gen(function*() {
    const alice = yield* Identity.generate
    const bob = yield* Identity.generate
    const a = yield* connect(url)
    const b = yield* connect(url)
    yield* register(a, alice, gatewayDid, url)
    yield* register(b, bob, gatewayDid, url)
    return { alice, bob, a, b }
  })
