/**
 * Protocol benchmark: sign, verify and decode+verify of a typical OFFER envelope, beside raw
 * node:crypto Ed25519 sign/verify of the same bytes in the same run, printed as ratios.
 */
import * as NodeCrypto from "node:crypto"
import { Effect, Layer, Redacted } from "effect"
import * as Accept from "../src/protocol/Accept.ts"
import * as Envelope from "../src/protocol/Envelope.ts"
import * as Identity from "../src/protocol/Identity.ts"
import * as NodeEd25519 from "../src/protocol/NodeEd25519.ts"
import * as ReplayGuard from "../src/protocol/ReplayGuard.ts"

const SDP = [
  "v=0", "o=rtc 2787409853 0 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0", "a=msid-semantic:WMS *",
  "a=setup:actpass", "a=ice-ufrag:Ow7D", "a=ice-pwd:Y9Hh2xB0Qq2Eo9Xbq2tQhK", "a=ice-options:ice2,trickle",
  "a=fingerprint:sha-256 " + Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, "0").toUpperCase()).join(":"),
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0", "a=mid:0", "a=sendrecv",
  "a=sctp-port:5000", "a=max-message-size:262144",
  "a=candidate:1 1 UDP 2122317823 192.168.1.10 54321 typ host",
  "a=candidate:2 1 UDP 1686110207 203.0.113.7 54321 typ srflx raddr 192.168.1.10 rport 54321", ""
].join("\r\n")

const BATCH = 100

/** Operations per second of `batch` (which runs BATCH operations), for about `ms` ms after a warm-up. */
const rate = async (batch: () => Promise<unknown> | unknown, ms = 1500): Promise<number> => {
  for (let i = 0; i < 5; i++) await batch()
  let count = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    await batch()
    count += BATCH
  }
  return count / ((performance.now() - start) / 1000)
}

/** BATCH runs of a synchronous baseline. */
const raw = (operation: () => unknown) => () => {
  for (let i = 0; i < BATCH; i++) operation()
}

const row = (name: string, ours: number, baseline: number) =>
  console.log(`${name.padEnd(34)} ${ours.toFixed(0).padStart(8)}/s   raw ${baseline.toFixed(0).padStart(8)}/s   ratio ${(ours / baseline).toFixed(2)}x`)

const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")

const measure = async (label: string, layer: Layer.Layer<never>) => {
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(Effect.provide(effect, layer))
  // BATCH operations in one fiber, as a gateway session fiber runs them one frame after another.
  const ours = <A, E>(operation: () => Effect.Effect<A, E>) => () =>
    run(Effect.gen(function*() {
      for (let i = 0; i < BATCH; i++) yield* operation()
    }))
  const sender = await run(Identity.generate)
  const receiver = await run(Identity.generate)
  const offer = await run(Envelope.make(sender, {
    type: "OFFER",
    to: receiver.did,
    payload: { connection_id: globalThis.crypto.randomUUID(), sdp: SDP }
  }))
  const text = Envelope.encode(offer)
  const bytes = Envelope.signingBytes(offer)
  const privateKey = NodeCrypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Redacted.value(sender.seed)]), format: "der", type: "pkcs8" })
  const publicKey = NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, sender.publicKey]), format: "der", type: "spki" })
  const signature = NodeCrypto.sign(null, bytes, privateKey)
  // A fresh replay guard per frame: the bench measures the checks, not a growing record.
  const context = (): Accept.AcceptContext => ({
    maxFrameBytes: 65536,
    refuseType: () => undefined,
    checkTo: () => Effect.succeed(true),
    replay: ReplayGuard.make()
  })
  console.log(`\n${label}: OFFER envelope of ${text.length} bytes`)
  const rawSign = await rate(raw(() => NodeCrypto.sign(null, bytes, privateKey)))
  row("sign (Envelope.sign)", await rate(ours(() => Envelope.sign(sender, offer))), rawSign)
  const rawVerify = await rate(raw(() => NodeCrypto.verify(null, bytes, publicKey, signature)))
  row("verify (Envelope.verify)", await rate(ours(() => Envelope.verify(offer))), rawVerify)
  row("decode+verify (Accept.accept)", await rate(ours(() => Accept.accept(text, context()))), rawVerify)
}

export const main = async () => {
  console.log("protocol: rates of our code beside raw node:crypto Ed25519 on the same bytes, same run")
  await measure("Ed25519 = node:crypto (NodeEd25519.layer)", NodeEd25519.layer)
  await measure("Ed25519 = WebCrypto (default, browser-safe)", Layer.empty)
}
