/**
 * What recovering a link reports (see `LinkRecovery`): the events a link publishes about its
 * recoveries, and the errors of an attempt that ran out of time and of a send a rebuild overtook.
 *
 * @since 0.1.0
 */
import { Data, Schema } from "effect"

/** ICE was restarted on the same peer connection; the path works again. */
export class IceRestarted extends Data.TaggedClass("IceRestarted")<{
  readonly connectionId: string
  readonly role: "offerer" | "answerer"
  /** From the start of the recovery to the path working again (the answerer: to its ANSWER). */
  readonly elapsedMs: number
}> {}

/**
 * The peer connection was rebuilt under the same link: a new connection (new DTLS and SCTP
 * associations) replaced the broken one. The control channel carries on; other data channels of
 * the old connection are closed and must be opened again; what the old connection had not
 * delivered is lost, and sends it still held failed with `ConnectionReestablished`.
 */
export class Reestablished extends Data.TaggedClass("Reestablished")<{
  readonly connectionId: string
  readonly role: "offerer" | "answerer"
  /** Which connection of the link this is: 1 for the first rebuild, and so on. */
  readonly generation: number
  readonly elapsedMs: number
}> {}

/** Every attempt failed: the link ends. */
export class RecoveryFailed extends Data.TaggedClass("RecoveryFailed")<{
  readonly connectionId: string
  readonly attempts: number
  readonly reason: string
}> {}

/** What a link reports about its recoveries. */
export type LinkEvent = IceRestarted | Reestablished | RecoveryFailed

/** One recovery attempt did not succeed within its deadline. */
export class AttemptTimeout extends Schema.TaggedError<AttemptTimeout>()("RecoveryAttemptTimeout", {
  connectionId: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `no recovery of ${this.connectionId} within ${this.timeoutMs} ms`
  }
}

/** A send on a link's control channel that a rebuild overtook: it was not delivered. */
export class ConnectionReestablished extends Schema.TaggedError<ConnectionReestablished>()("ConnectionReestablished", {
  connectionId: Schema.String,
  label: Schema.String
}) {
  override get message() {
    return `the connection ${this.connectionId} was rebuilt: a message on ${this.label} was not delivered`
  }
}
