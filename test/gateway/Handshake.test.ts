import { assert, layer } from "@effect/vitest"
import { base64urlnopad } from "@scure/base"
import { Effect, Schema } from "effect"
import * as Gateway from "../../src/gateway/Gateway.ts"
import * as Did from "../../src/protocol/Did.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { testConfig } from "./fixtures.ts"
import * as RawClient from "./RawClient.ts"

const PUBLIC_URL = "wss://gateway.example/ws"
const config = testConfig({ stunUrls: ["stun:stun.example:3478"] })

layer(Gateway.layerMemory(config), { excludeTestServices: true })("gateway handshake", (it) => {
  it.effect("sends a signed CHALLENGE, accepts REGISTER and answers REGISTERED with the session parameters", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const agent = yield* Identity.generate
      const client = yield* RawClient.connect(gateway.url)
      assert.strictEqual(client.socket.protocol, "ioap.v1")
      const { challenge, register, answer } = yield* RawClient.register(client, agent, gateway.did, gateway.url)
      assert.strictEqual(challenge.from, gateway.did)
      assert.isUndefined(challenge.to)
      assert.isTrue(yield* Envelope.verify(challenge))
      assert.strictEqual(answer.type, "REGISTERED")
      assert.isTrue(yield* Envelope.verify(answer))
      assert.strictEqual(answer.correlation_id, register.id)
      assert.strictEqual(answer.to, agent.did)
      const payload = (answer as Envelope.Envelope<"REGISTERED">).payload
      assert.strictEqual(payload.heartbeat_interval_ms, config.heartbeatIntervalMs)
      assert.strictEqual(payload.session_timeout_ms, config.sessionTimeoutMs)
      assert.strictEqual(payload.max_message_bytes, config.maxMessageBytes)
      assert.deepStrictEqual(payload.ice_servers, [{ urls: ["stun:stun.example:3478"] }])
      assert.strictEqual(Schema.decodeUnknownResult(Envelope.Payloads.REGISTERED)(payload)._tag, "Success")
    }))

  it.effect("answers anything but REGISTER first with UNAUTHORIZED and closes with 4002", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const agent = yield* Identity.generate
      const client = yield* RawClient.connect(gateway.url)
      yield* client.nextOfType("CHALLENGE")
      const ping = yield* Envelope.make(agent, { type: "PING", to: gateway.did, payload: {} })
      yield* client.send(Envelope.encode(ping))
      const error = yield* client.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "UNAUTHORIZED")
      assert.strictEqual(error.correlation_id, ping.id)
      assert.isUndefined(error.to)
      assert.strictEqual((yield* client.closed).code, 4002)
    }))

  const failedRegistrations: Array<[string, (challengeNonce: string, agent: Identity.Identity, gatewayDid: string, url: string) => Effect.Effect<string, unknown>, string]> = [
    ["a wrong nonce", (_nonce, agent, gatewayDid, url) =>
      Effect.map(
        Envelope.make(agent, { type: "REGISTER", to: gatewayDid as never, payload: { nonce: "A".repeat(43), endpoint: url, capabilities: [] } }),
        Envelope.encode
      ), "UNAUTHORIZED"],
    ["a REGISTER addressed to another DID", (nonce, agent, _gatewayDid, url) =>
      Effect.flatMap(Identity.generate, (other) =>
        Effect.map(
          Envelope.make(agent, { type: "REGISTER", to: other.did, payload: { nonce, endpoint: url, capabilities: [] } }),
          Envelope.encode
        )), "UNKNOWN_AGENT"],
    ["a bad signature", (nonce, agent, gatewayDid, url) =>
      Effect.map(
        Envelope.make(agent, { type: "REGISTER", to: gatewayDid as never, payload: { nonce, endpoint: url, capabilities: [] } }),
        (envelope) => Envelope.encode({ ...envelope, payload: { ...envelope.payload, name: "mallory" } })
      ), "INVALID_SIGNATURE"],
    ["a REGISTER from the small-order identity key (signature R = identity, s = 0: valid for any message under a lax verifier)", (nonce, agent, gatewayDid, url) =>
      Effect.map(
        Envelope.make(agent, { type: "REGISTER", to: gatewayDid as never, payload: { nonce, endpoint: url, capabilities: [] } }),
        (envelope) => {
          const identityPoint = new Uint8Array(32)
          identityPoint[0] = 1
          const signature = new Uint8Array(64)
          signature[0] = 1
          return Envelope.encode({ ...envelope, from: Did.fromPublicKey(identityPoint), signature: base64urlnopad.encode(signature) })
        }
      ), "INVALID_SIGNATURE"],
    ["non-JSON", () => Effect.succeed("hello"), "MALFORMED_MESSAGE"],
    ["a REGISTER with 33 capabilities", (nonce, agent, gatewayDid, url) =>
      Effect.map(
        Envelope.make(agent, { type: "REGISTER", to: gatewayDid as never, payload: { nonce, endpoint: url, capabilities: Array.from({ length: 33 }, (_, i) => ({ id: `c${i}` })) } }),
        Envelope.encode
      ), "MALFORMED_MESSAGE"]
  ]
  for (const [name, makeFrame, code] of failedRegistrations) {
    it.effect(`refuses ${name} during the handshake with ${code} and close 4002`, () =>
      Effect.gen(function*() {
        const gateway = yield* Gateway.Gateway
        const agent = yield* Identity.generate
        const client = yield* RawClient.connect(gateway.url)
        const challenge = yield* client.nextOfType("CHALLENGE")
        yield* client.send(yield* makeFrame(challenge.payload.nonce, agent, gateway.did, gateway.url))
        const error = yield* client.nextOfType("ERROR")
        assert.strictEqual(error.payload.code, code)
        assert.isTrue(yield* Envelope.verify(error))
        assert.strictEqual((yield* client.closed).code, 4002)
      }))
  }

  it.effect("limits frames before registration to 16 KiB (close 1009)", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const client = yield* RawClient.connect(gateway.url)
      yield* client.nextOfType("CHALLENGE")
      yield* client.send(JSON.stringify({ padding: "x".repeat(17 * 1024) }))
      const error = yield* client.nextOfType("ERROR")
      assert.strictEqual(error.payload.code, "MESSAGE_TOO_LARGE")
      assert.strictEqual((yield* client.closed).code, 1009)
    }))

  it.effect("refuses an upgrade without the ioap.v1 subprotocol with HTTP 400", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const refused = yield* Effect.flip(RawClient.connect(gateway.url, { protocols: ["chat"] }))
      assert.strictEqual(refused.status, 400)
      const none = yield* Effect.flip(RawClient.connect(gateway.url, { protocols: [] }))
      assert.strictEqual(none.status, 400)
      // Offered among others, ioap.v1 is selected.
      const client = yield* RawClient.connect(gateway.url, { protocols: ["chat", "ioap.v1"] })
      assert.strictEqual(client.socket.protocol, "ioap.v1")
    }))

  it.effect("the newest registration of a DID wins: the old session gets SESSION_REPLACED and 4001", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const agent = yield* Identity.generate
      const peer = yield* Identity.generate
      const first = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(first, agent, gateway.did, gateway.url)
      const second = yield* RawClient.connect(gateway.url)
      const { answer } = yield* RawClient.register(second, agent, gateway.did, gateway.url)
      assert.strictEqual(answer.type, "REGISTERED")
      const replaced = yield* first.nextOfType("ERROR")
      assert.strictEqual(replaced.payload.code, "SESSION_REPLACED")
      assert.strictEqual((yield* first.closed).code, 4001)
      // Frames for the DID now reach the new session.
      const other = yield* RawClient.connect(gateway.url)
      yield* RawClient.register(other, peer, gateway.did, gateway.url)
      const bye = yield* Envelope.make(peer, { type: "BYE", to: agent.did, payload: { connection_id: crypto.randomUUID() } })
      yield* other.send(Envelope.encode(bye))
      assert.strictEqual(yield* second.next(), Envelope.encode(bye))
    }))
})

layer(Gateway.layerMemory(testConfig({ publicUrls: [PUBLIC_URL] })), { excludeTestServices: true })("gateway with public URLs", (it) => {
  it.effect("accepts a REGISTER whose endpoint is one of its public URLs and refuses another", () =>
    Effect.gen(function*() {
      const gateway = yield* Gateway.Gateway
      const good = yield* RawClient.connect(gateway.url)
      const accepted = yield* RawClient.register(good, yield* Identity.generate, gateway.did, PUBLIC_URL)
      assert.strictEqual(accepted.answer.type, "REGISTERED")
      const relayed = yield* RawClient.connect(gateway.url)
      const refused = yield* RawClient.register(relayed, yield* Identity.generate, gateway.did, "wss://evil.example/ws")
      assert.strictEqual(refused.answer.type, "ERROR")
      assert.strictEqual((refused.answer as Envelope.Envelope<"ERROR">).payload.code, "UNAUTHORIZED")
      assert.strictEqual((yield* relayed.closed).code, 4002)
    }))
})
