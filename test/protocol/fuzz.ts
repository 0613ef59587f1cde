/**
 * Fuzzing every decoder a peer or client can reach: the envelope acceptance checks (steps 1–11),
 * I-JSON, the payload schemas, the framing reassembler, the SDP and ICE candidate parsers and DID
 * decoding. Inputs are mutations of valid seeds (the test vectors, a real SDP, candidates,
 * fragments). A decoder passes an input when it returns a value or its own typed error; anything
 * thrown, or an Effect that dies, is a finding.
 *
 * Used by the CI slice (test/protocol/Fuzz.test.ts, fast-check) and by `npm run bench -- hostile`
 * (a million and more mutations from a seeded generator).
 */
import { readFileSync } from "node:fs"
import { Effect, Exit, Result, Schema } from "effect"
import * as Accept from "../../src/protocol/Accept.ts"
import * as Did from "../../src/protocol/Did.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as IJson from "../../src/protocol/IJson.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import * as IceCandidate from "../../src/protocol/IceCandidate.ts"
import * as Sdp from "../../src/protocol/Sdp.ts"
import * as Framing from "../../src/webrtc/framing/Framing.ts"
import { SDP, samples } from "../fixtures/samples.ts"

/** What a decoder did with an input: accepted it, or refused it with its typed error (its tag). */
export type Outcome = { readonly accepted: true } | { readonly accepted: false; readonly tag: string }

const accepted: Outcome = { accepted: true }
const refused = (tag: string): Outcome => ({ accepted: false, tag })

/** A decoder under fuzzing: its input kind and the typed errors it may refuse with. */
export interface Target {
  readonly name: string
  readonly input: "text" | "bytes"
  readonly seeds: ReadonlyArray<string | Uint8Array>
  readonly typedErrors: ReadonlySet<string>
  /** Runs the decoder; throws only when the decoder threw (a finding). */
  readonly run: (input: string | Uint8Array) => Outcome
}

const vectors = (JSON.parse(readFileSync(new URL("../vectors/envelopes.json", import.meta.url), "utf8")) as {
  vectors: Array<{ frame: string }>
}).vectors.map((v) => v.frame)

const verifySync = NodeEd25519.make().verifySync!

/** A receiver that accepts every type from anyone, at any time: every step past parsing is reached. */
const receiver = (): Accept.AcceptContext => ({
  maxFrameBytes: 64 * 1024,
  binaryFrames: "utf8",
  refuseType: () => undefined,
  checkTo: () => Effect.succeed(true),
  skewMs: Number.MAX_SAFE_INTEGER,
  replay: ReplayGuard.make({ maxPerSender: 1 << 20, maxTotal: 1 << 20 })
})

const envelope: Target = {
  name: "envelope (Accept steps 1-11)",
  input: "text",
  seeds: vectors,
  typedErrors: new Set(["EnvelopeRejected"]),
  run: (input) => {
    const context = receiver()
    const read = Accept.read(input, context)
    if (Result.isFailure(read)) return refused(read.failure._tag)
    const done = Accept.complete(read.success, context, Date.parse("2026-01-01T00:00:00Z"), verifySync)
    return Result.isFailure(done) ? refused(done.failure._tag) : accepted
  }
}

// Mutated payloads in envelopes signed anew: the signature holds, so every payload reaches step 11.
const signer = Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
const addressee = Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
const signPayload = (type: Envelope.Type, payload: IJson.Json): string | undefined => {
  const unsigned = {
    version: "1.0",
    id: globalThis.crypto.randomUUID(),
    timestamp: "2026-01-01T00:00:00.000Z",
    from: signer.did,
    ...(Envelope.typesWithoutTo.has(type) ? {} : { to: addressee.did }),
    type,
    payload
  }
  const signed = Effect.runSyncExit(Effect.provide(Envelope.sign(signer, unsigned as never), NodeEd25519.layer))
  return Exit.isSuccess(signed) ? Envelope.encode(signed.value) : undefined
}

const signedPayloads: Target = {
  name: "envelope with mutated payload, signed (steps 1-11)",
  input: "text",
  seeds: Envelope.Types.map((type) => `${type}\n${JSON.stringify(samples[type].payload)}`),
  typedErrors: new Set(["EnvelopeRejected", "IJsonError", "UnsignableEnvelope"]),
  run: (input) => {
    const text = input as string
    const newline = text.indexOf("\n")
    const type = text.slice(0, newline)
    const parsed = IJson.parse(text.slice(newline + 1))
    if (Result.isFailure(parsed)) return refused(parsed.failure._tag)
    const frame = Envelope.isType(type) ? signPayload(type, parsed.success) : undefined
    if (frame === undefined) return refused("UnsignableEnvelope")
    return envelope.run(frame)
  }
}

const ijson: Target = {
  name: "I-JSON",
  input: "text",
  seeds: vectors,
  typedErrors: new Set(["IJsonError"]),
  run: (input) => {
    const parsed = IJson.parse(input as string)
    return Result.isFailure(parsed) ? refused(parsed.failure._tag) : accepted
  }
}

const payloadDecoders = Envelope.Types.map((type) => Schema.decodeUnknownResult(Envelope.Payloads[type] as Schema.Codec<unknown, unknown>))

const payloads: Target = {
  name: "payload schemas (every type)",
  input: "text",
  seeds: Envelope.Types.map((type) => JSON.stringify(samples[type].payload)),
  typedErrors: new Set(["IJsonError", "SchemaError"]),
  run: (input) => {
    const parsed = IJson.parse(input as string)
    if (Result.isFailure(parsed)) return refused(parsed.failure._tag)
    let any = false
    for (const decode of payloadDecoders) {
      const decoded = decode(parsed.success)
      if (Result.isSuccess(decoded)) any = true
      else if (decoded.failure._tag !== "SchemaError") throw new Error(`a payload decoder failed with ${String(decoded.failure)}`)
    }
    return any ? accepted : refused("SchemaError")
  }
}

const sdp: Target = {
  name: "SDP parser",
  input: "text",
  seeds: [SDP, samples.OFFER.payload.sdp, samples.ANSWER.payload.sdp],
  typedErrors: new Set(["InvalidSdp"]),
  run: (input) => {
    const exit = Effect.runSyncExit(Sdp.parseSdp(input as string))
    if (Exit.isSuccess(exit)) return accepted
    const failure = exit.cause.reasons.find((reason) => reason._tag === "Fail")
    if (failure === undefined) throw new Error(`parseSdp died: ${String(exit.cause)}`)
    return refused((failure.error as { _tag: string })._tag)
  }
}

const candidate: Target = {
  name: "ICE candidate parser",
  input: "text",
  seeds: [
    samples.ICE_CANDIDATE.payload.candidate,
    "candidate:1 1 udp 2122260223 192.0.2.10 54400 typ host generation 0 ufrag Ow7D network-id 1",
    "candidate:842163049 1 udp 1677729535 203.0.113.7 50000 typ srflx raddr 192.0.2.10 rport 54400",
    "candidate:3 1 tcp 1518280447 192.0.2.10 9 typ host tcptype active",
    "candidate:4 1 udp 41885439 198.51.100.1 3478 typ relay raddr 203.0.113.7 rport 50000"
  ],
  typedErrors: new Set(["InvalidIceCandidate"]),
  run: (input) => {
    const parsed = IceCandidate.parseIceCandidateLine(input as string)
    return Result.isFailure(parsed) ? refused(parsed.failure._tag) : accepted
  }
}

const did: Target = {
  name: "DID decoding",
  input: "text",
  seeds: vectors.map((frame) => (JSON.parse(frame) as { from: string }).from),
  typedErrors: new Set(["InvalidDid"]),
  run: (input) => {
    const decoded = Did.decode(input as string)
    return Result.isFailure(decoded) ? refused(decoded.failure._tag) : accepted
  }
}

const fragmentSeeds = [
  ...Framing.fragment("a text message split into several fragments", 1, 16),
  ...Framing.fragment(new Uint8Array(100).fill(7), 2, 40),
  ...Framing.fragment("é".repeat(30), 3, 1024)
]

const framing: Target = {
  name: "framing reassembler",
  input: "bytes",
  seeds: fragmentSeeds,
  typedErrors: new Set(["FramingError"]),
  // One reassembler takes the seed's first fragments, then the mutated one (mid-message state is reached).
  run: (input) => {
    const reassembler = new Framing.Reassembler({ maxMessageBytes: 1 << 20, maxMessagesInFlight: 8 })
    reassembler.push(fragmentSeeds[0]!)
    reassembler.push(fragmentSeeds[1]!)
    const pushed = reassembler.push(input as Uint8Array)
    return Result.isFailure(pushed) ? refused(pushed.failure._tag) : accepted
  }
}

/** Every decoder under fuzzing. */
export const targets: ReadonlyArray<Target> = [envelope, signedPayloads, ijson, payloads, sdp, candidate, did, framing]

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/** A deterministic generator (mulberry32): the same seed, the same inputs. */
export const prng = (seed: number) => {
  let state = seed >>> 0
  return (): number => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

// Pieces that make text decoders take unusual paths.
const PIECES = [
  "\"", "\\", "{", "}", "[", "]", ":", ",", "\"id\":\"x\",", "\"type\":\"OFFER\",", "\\ud800", "\ud800", "\udfff", "\u0000",
  "1e400", "9007199254740993", "-0", "null", "true", "\"__proto__\":{},", "\r\n", "a=", "m=application 9 ", "candidate:",
  " typ ", " raddr ", "did:key:z6Mk", "é", "😀", "\u2028", "1".repeat(40), "[".repeat(64), "{\"a\":".repeat(32)
]

/** One mutation of `text`: a replaced, inserted or deleted span, a duplicated or swapped span, or a piece that trips parsers. */
export const mutateText = (text: string, random: () => number): string => {
  const at = Math.floor(random() * (text.length + 1))
  const span = 1 + Math.floor(random() * Math.min(16, Math.max(1, text.length)))
  const piece = PIECES[Math.floor(random() * PIECES.length)]!
  switch (Math.floor(random() * 8)) {
    case 0:
      return text.slice(0, at) + String.fromCharCode(Math.floor(random() * 0x10000)) + text.slice(at + 1)
    case 1:
      return text.slice(0, at) + piece + text.slice(at)
    case 2:
      return text.slice(0, at) + text.slice(at + span)
    case 3:
      return text.slice(0, at) + text.slice(at, at + span) + text.slice(at)
    case 4: {
      // A member written twice: the first object's first member, again.
      const open = text.indexOf("{")
      const comma = text.indexOf(",", open)
      return open < 0 || comma < 0 ? text + piece : text.slice(0, open + 1) + text.slice(open + 1, comma + 1) + text.slice(open + 1)
    }
    case 5:
      return text.slice(0, at)
    case 6: {
      const other = Math.floor(random() * text.length)
      return text.slice(0, at) + text.slice(other, other + span) + text.slice(at + span)
    }
    default:
      return text.slice(0, at) + piece + text.slice(at + span)
  }
}

/** One mutation of `bytes`: a flipped bit, a random byte, a cut, an inserted run, or a header field set at random. */
export const mutateBytes = (bytes: Uint8Array, random: () => number): Uint8Array => {
  const out = new Uint8Array(bytes)
  const at = Math.floor(random() * Math.max(1, out.length))
  switch (Math.floor(random() * 5)) {
    case 0:
      if (out.length > 0) out[at] = out[at]! ^ (1 << Math.floor(random() * 8))
      return out
    case 1:
      if (out.length > 0) out[at] = Math.floor(random() * 256)
      return out
    case 2:
      return out.subarray(0, at)
    case 3: {
      const run = new Uint8Array(1 + Math.floor(random() * 32)).map(() => Math.floor(random() * 256))
      const grown = new Uint8Array(out.length + run.length)
      grown.set(out.subarray(0, at))
      grown.set(run, at)
      grown.set(out.subarray(at), at + run.length)
      return grown
    }
    default: {
      // The message number or the size/index field (bytes 4–11) set to an edge value.
      if (out.length >= 12) {
        const view = new DataView(out.buffer, out.byteOffset, out.byteLength)
        const edges = [0, 1, 2, 0x7fffffff, 0xffffffff, Math.floor(random() * 0xffffffff)]
        view.setUint32(random() < 0.5 ? 4 : 8, edges[Math.floor(random() * edges.length)]!)
      }
      return out
    }
  }
}

/** An input for `target`: a seed with 0–4 mutations (a fifth are the seed itself, so acceptance stays in reach). */
export const mutant = (target: Target, random: () => number): string | Uint8Array => {
  let input = target.seeds[Math.floor(random() * target.seeds.length)]!
  const rounds = Math.floor(random() * 5)
  for (let i = 0; i < rounds; i++) {
    input = typeof input === "string" ? mutateText(input, random) : mutateBytes(input, random)
  }
  return input
}

/** What a fuzz run found for one target. */
export interface Tally {
  readonly name: string
  runs: number
  accepted: number
  refused: number
  /** Inputs that made the decoder throw or die, or refuse with an error that is not its own. */
  failures: number
  /** The first few of them. */
  readonly findings: Array<{ readonly input: string; readonly error: string }>
}

/** An empty tally for `target`. */
export const tally = (target: Target): Tally => ({ name: target.name, runs: 0, accepted: 0, refused: 0, failures: 0, findings: [] })

const finding = (tally: Tally, input: string | Uint8Array, error: string) => {
  tally.failures++
  if (tally.findings.length < 20) tally.findings.push({ input: show(input), error })
}

/** Runs one input through `target`, counting into `tally`. */
export const runOne = (target: Target, input: string | Uint8Array, tally: Tally): void => {
  tally.runs++
  try {
    const outcome = target.run(input)
    if (outcome.accepted) tally.accepted++
    else if (target.typedErrors.has(outcome.tag)) tally.refused++
    else finding(tally, input, `untyped refusal ${outcome.tag}`)
  } catch (cause) {
    finding(tally, input, cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause))
  }
}

const show = (input: string | Uint8Array): string =>
  typeof input === "string" ? JSON.stringify(input.slice(0, 300)) : `bytes ${Array.from(input.subarray(0, 64), (b) => b.toString(16).padStart(2, "0")).join("")}`
