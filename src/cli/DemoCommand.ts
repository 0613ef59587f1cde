/**
 * `aiconexus demo`: one process, no set-up. An embedded gateway and two agents that register,
 * discover each other by capability, connect over real WebRTC, exchange signed INTENT and
 * EXEC messages on the `ioap` control channel and a 1 MiB payload on a framed application
 * channel, printing each step with its timing.
 *
 * @since 0.1.0
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as NodeSocket from "@effect/platform-node/NodeSocket"
import { Console, Context, Effect, Fiber, Layer, Option, Stream } from "effect"
import { Command, Flag } from "effect/cli"
import { GatewayClient } from "../client/GatewayClient.ts"
import { KnownGateways } from "../client/KnownGateways.ts"
import { Signaling } from "../client/Signaling.ts"
import * as Gateway from "../gateway/Gateway.ts"
import * as GatewayConfig from "../gateway/GatewayConfig.ts"
import type * as Envelope from "../protocol/Envelope.ts"
import * as Identity from "../protocol/Identity.ts"
import * as CandidatePolicy from "../webrtc/peer/CandidatePolicy.ts"
import { Connector } from "../webrtc/link/Connector.ts"
import * as EnvelopeChannel from "../webrtc/link/EnvelopeChannel.ts"
import * as FramedChannel from "../webrtc/framing/FramedChannel.ts"
import * as NodeDataChannelTransport from "../webrtc/stacks/NodeDataChannelTransport.ts"
import * as NodeWeriftTransport from "../webrtc/stacks/NodeWeriftTransport.ts"
import type { Transport } from "../webrtc/peer/Transport.ts"
import { printable } from "./Terminal.ts"

const PAYLOAD_BYTES = 1024 * 1024

const hex = (bytes: ArrayBuffer) => Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("")
const sha256 = (bytes: Uint8Array) =>
  Effect.promise(() => globalThis.crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>)).pipe(Effect.map(hex))

/** An agent at `url` with the given capabilities, over `transport`. */
const agent = (url: string, transport: Layer.Layer<Transport>, name: string, capabilities: ReadonlyArray<Envelope.Capability>) =>
  Effect.gen(function*() {
    const identity = yield* Identity.generate
    const context = yield* Layer.build(
      Connector.layerWithGateway({ candidatePolicy: CandidatePolicy.allowAll }).pipe(
        Layer.provide(Layer.merge(Signaling.layerGateway, transport)),
        Layer.provideMerge(GatewayClient.layer({ urls: [url], identity, name, capabilities }).pipe(
          Layer.provide(Layer.merge(KnownGateways.layerMemory, NodeSocket.layerWebSocketConstructor))
        ))
      )
    )
    const client = Context.get(context, GatewayClient)
    yield* client.session
    return { identity, client, connector: Context.get(context, Connector) }
  })

/** The demo itself; `step` prints one line per step with the time it took. */
export const run = (transportName: "node-datachannel" | "werift") =>
  Effect.gen(function*() {
    let mark = performance.now()
    const started = mark
    const step = (text: string) =>
      Effect.suspend(() => {
        const now = performance.now()
        const line = `[${(now - mark).toFixed(1).padStart(7)} ms] ${text}`
        mark = now
        return Console.log(line)
      })
    const transport = transportName === "werift"
      ? NodeWeriftTransport.layer({ loopback: true })
      : NodeDataChannelTransport.layer({ bindAddress: "127.0.0.1" })

    const dataDir = mkdtempSync(join(tmpdir(), "aiconexus-demo-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dataDir, { recursive: true, force: true })))
    const gateway = Context.get(
      yield* Layer.build(Gateway.layerMemory(GatewayConfig.make({ host: "127.0.0.1", port: 0, dataDir }))),
      Gateway.Gateway
    )
    yield* step(`gateway up at ${gateway.url} (${gateway.did})`)

    const alice = yield* agent(gateway.url, transport, "alice", [])
    const bob = yield* agent(gateway.url, transport, "bob", [{ id: "echo", description: "returns its arguments" }])
    yield* step(`alice (${alice.identity.did}) and bob (${bob.identity.did}) registered`)

    const found = yield* alice.client.discover({ capability: "echo" })
    const entry = found.agents.find((a) => a.did === bob.identity.did)
    if (entry === undefined) return yield* Effect.fail(new Error("bob was not found by capability"))
    yield* step(`alice discovered "${printable(entry.name ?? "?")}" serving echo`)

    const accepted = yield* Effect.forkChild(bob.connector.incoming.pipe(Stream.runHead))
    const link = yield* alice.connector.connect(entry.did)
    const bobsLink = Option.getOrThrow(yield* Fiber.join(accepted))
    const pair = yield* link.peer.stats
    yield* step(`connected over ${transportName} (WebRTC, ${pair.selectedPair?.localType ?? "?"} candidates; DTLS fingerprint checked against the signed SDP)`)

    const aliceControl = yield* EnvelopeChannel.make(link, alice.identity)
    const bobControl = yield* EnvelopeChannel.make(bobsLink, bob.identity)
    // Bob serves: he prints INTENTs and answers EXEC_REQUESTs for "echo".
    yield* bobControl.envelopes.pipe(
      Stream.runForEach(({ envelope }) => {
        if (envelope.type === "INTENT") {
          return step(`bob got a signed INTENT from alice: "${printable(envelope.payload.query ?? "")}"`)
        }
        if (envelope.type === "EXEC_REQUEST") {
          const request = envelope.payload
          return Effect.ignore(bobControl.send({
            type: "EXEC_RESPONSE",
            correlation_id: envelope.id,
            payload: request.capability === "echo"
              ? { status: "success", result: request.args, execution_time_ms: 0 }
              : { status: "error", error: { code: "UNKNOWN_CAPABILITY", message: "bob serves echo only" } }
          }))
        }
        return Effect.void
      }),
      Effect.forkScoped
    )
    yield* aliceControl.send({ type: "INTENT", payload: { query: "Could you echo something for me?" } })
    const response = yield* Effect.forkChild(aliceControl.envelopes.pipe(Stream.filter(({ envelope }) => envelope.type === "EXEC_RESPONSE"), Stream.runHead))
    const requestId = yield* aliceControl.send({ type: "EXEC_REQUEST", payload: { capability: "echo", args: { text: "hello, peer" } } })
    const answer = Option.getOrThrow(yield* Fiber.join(response)).envelope
    if (answer.type !== "EXEC_RESPONSE" || answer.correlation_id !== requestId) {
      return yield* Effect.fail(new Error("the response does not answer the request"))
    }
    yield* step(`alice called echo: ${answer.payload.status}, result ${printable(JSON.stringify(answer.payload.result))}`)

    // The payload travels on a framed application channel; bob answers with its SHA-256.
    const bobsChannel = yield* Effect.forkChild(bobsLink.peer.remoteChannels.pipe(Stream.filter((c) => c.label === "payload"), Stream.runHead))
    const channel = yield* link.peer.createDataChannel(FramedChannel.config("payload"))
    yield* channel.opened
    const sender = yield* FramedChannel.make(channel, { maxFragmentBytes: link.peer.maxMessageSize })
    const receiver = yield* FramedChannel.make(Option.getOrThrow(yield* Fiber.join(bobsChannel)), { maxFragmentBytes: bobsLink.peer.maxMessageSize })
    yield* receiver.messages.pipe(
      Stream.runForEach((message) => typeof message === "string" ? Effect.void : Effect.flatMap(sha256(message), receiver.send)),
      Effect.forkScoped
    )
    const payload = new Uint8Array(PAYLOAD_BYTES).map((_, i) => (i * 31 + 7) & 0xff)
    const digest = yield* Effect.forkChild(sender.messages.pipe(Stream.runHead))
    yield* sender.send(payload)
    const theirs = Option.getOrThrow(yield* Fiber.join(digest))
    const ours = yield* sha256(payload)
    if (theirs !== ours) return yield* Effect.fail(new Error("the payload arrived damaged"))
    yield* step(`1 MiB payload sent on a framed channel and confirmed by bob (sha-256 ${ours.slice(0, 16)}…)`)

    yield* link.close
    yield* bobsLink.ended
    yield* Console.log(`demo complete in ${(performance.now() - started).toFixed(0)} ms`)
  }).pipe(Effect.scoped)

/** The `demo` command. */
export const command = Command.make(
  "demo",
  {
    transport: Flag.Literals("transport", ["node-datachannel", "werift"]).pipe(
      Flag.withDescription("The WebRTC stack (default node-datachannel)"),
      Flag.withDefault("node-datachannel" as const)
    ),
    verbose: Flag.Boolean("verbose").pipe(Flag.withDescription("Print the full cause of a failure"), Flag.withDefault(false))
  },
  Effect.fn(function*({ transport, verbose }) {
    yield* run(transport).pipe(
      Effect.catchCause((cause) =>
        Effect.andThen(
          Console.error(verbose ? String(cause) : `demo failed: ${String(cause).split("\n")[0]}`),
          Effect.sync(() => {
            process.exitCode = 1
          })
        ))
    )
  })
).pipe(Command.withDescription("Run an embedded gateway and two agents that talk over WebRTC"))
