/**
 * The heartbeat of a registered gateway session (PROTOCOL.md 4.3): an unsigned text frame
 * `{"type":"HEARTBEAT"}` from the agent, answered by `{"type":"HEARTBEAT_ACK"}`.
 *
 * Neither is an envelope: no `from`, no signature, no id. A heartbeat carries no authority; it
 * only refreshes the liveness of the socket it arrives on, whose DID the handshake already bound
 * (challenge and signed REGISTER). The signed PING/PONG of earlier clients keeps working; the
 * heartbeat spares the gateway a verification, a replay record and a signature per interval.
 *
 * Both frames are at most `MAX_CHARS` characters, shorter than any envelope can be (a signature
 * alone is 86), so a receiver tells them from envelopes by length before parsing anything. The
 * usual frame is compared as text (`FRAME`, `ACK_FRAME`); any other short frame is decoded with
 * the Schema, so the same rule accepts `{ "type": "HEARTBEAT" }` and refuses the rest.
 *
 * @since 0.2.0
 */
import { Result, Schema } from "effect"
import * as IJson from "./IJson.ts"

/** The agent's heartbeat. */
export const Heartbeat = Schema.Struct({ type: Schema.Literal("HEARTBEAT") })
export type Heartbeat = typeof Heartbeat.Type

/** The gateway's answer to a heartbeat. */
export const HeartbeatAck = Schema.Struct({ type: Schema.Literal("HEARTBEAT_ACK") })
export type HeartbeatAck = typeof HeartbeatAck.Type

/** The heartbeat as the client sends it (the Schema's encoding). */
export const FRAME: string = JSON.stringify(Schema.encodeSync(Heartbeat)({ type: "HEARTBEAT" }))

/** The answer as the gateway sends it (the Schema's encoding). */
export const ACK_FRAME: string = JSON.stringify(Schema.encodeSync(HeartbeatAck)({ type: "HEARTBEAT_ACK" }))

/**
 * The longest frame read as a heartbeat (or its answer), in characters; longer frames are
 * envelopes or refused as such. The shortest envelope is over 200 characters.
 */
export const MAX_CHARS = 64

/** Whether a text frame is short enough to be a heartbeat or its answer (and too short to be an envelope). */
export const isShort = (frame: string): boolean => frame.length <= MAX_CHARS

/** The heartbeat interval a gateway tells its agents by default (PROTOCOL.md 4.3–4.4: why 45 s). */
export const DEFAULT_INTERVAL_MS = 45_000

/** The silence after which a gateway closes a session by default: more than two intervals. */
export const DEFAULT_SESSION_TIMEOUT_MS = 120_000

/** The longest an agent waits for a heartbeat's answer (PROTOCOL.md 4.3). */
export const MAX_ANSWER_MS = 20_000

/**
 * How long an agent waits for the answer to a heartbeat sent every `heartbeatIntervalMs`: one
 * interval, at most 20 s, so a long interval does not also make a silent gateway slow to notice.
 */
export const answerWithinMs = (heartbeatIntervalMs: number): number => Math.min(heartbeatIntervalMs, MAX_ANSWER_MS)

/** A short frame that is not the expected heartbeat frame. */
export class MalformedHeartbeat extends Schema.TaggedError<MalformedHeartbeat>()("MalformedHeartbeat", {
  reason: Schema.String
}) {}

/** Reads a short frame as `value` when it is `frame` (the usual case), else through the Schema. */
const read = <A>(
  text: string,
  frame: string,
  value: A,
  decode: (input: unknown) => Result.Result<A, Schema.SchemaError>
): Result.Result<A, MalformedHeartbeat> => {
  if (text === frame) return Result.succeed(value)
  const parsed = IJson.parse(text)
  if (Result.isFailure(parsed)) return Result.fail(new MalformedHeartbeat({ reason: parsed.failure.reason }))
  const decoded = decode(parsed.success)
  return Result.isFailure(decoded)
    ? Result.fail(new MalformedHeartbeat({ reason: decoded.failure.message.split("\n", 1)[0]!.slice(0, 200) }))
    : Result.succeed(decoded.success)
}

const HEARTBEAT: Heartbeat = { type: "HEARTBEAT" }
const ACK: HeartbeatAck = { type: "HEARTBEAT_ACK" }
const decodeHeartbeat = Schema.decodeUnknownResult(Heartbeat, { onExcessProperty: "error" })
const decodeAck = Schema.decodeUnknownResult(HeartbeatAck, { onExcessProperty: "error" })

/** Reads a short frame at the gateway: a heartbeat, or why it is not one. */
export const readHeartbeat = (text: string): Result.Result<Heartbeat, MalformedHeartbeat> => read(text, FRAME, HEARTBEAT, decodeHeartbeat)

/** Reads a short frame at the agent: the gateway's answer, or why it is not one. */
export const readAck = (text: string): Result.Result<HeartbeatAck, MalformedHeartbeat> => read(text, ACK_FRAME, ACK, decodeAck)
