/**
 * Why opening a link failed: the errors `Connector.connect` fails with, and the negotiation steps
 * of both sides share.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** The connection did not open within the connect deadline. */
export class ConnectTimeout extends Schema.TaggedError<ConnectTimeout>()("ConnectTimeout", {
  remote: Schema.String,
  connectionId: Schema.String,
  timeoutMs: Schema.Number
}) {
  override get message() {
    return `no connection to ${this.remote} within ${this.timeoutMs} ms`
  }
}

/** The peer declined (BYE with CONNECTION_REFUSED, or another code, before the connection opened). */
export class ConnectionRefused extends Schema.TaggedError<ConnectionRefused>()("ConnectionRefused", {
  remote: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.remote} refused the connection (${this.code}): ${this.reason}`
  }
}

/** Negotiation failed: the peer is unknown, the stack refused, or the connection failed. */
export class ConnectFailed extends Schema.TaggedError<ConnectFailed>()("ConnectFailed", {
  remote: Schema.String,
  reason: Schema.String,
  /** Trying again at once cannot help (the gateway could not deliver our signal, e.g. UNKNOWN_AGENT). */
  final: Schema.optionalKey(Schema.Boolean)
}) {
  override get message() {
    return `connection to ${this.remote} failed: ${this.reason}`
  }
}

/** Why `connect` failed. */
export type ConnectError = ConnectTimeout | ConnectionRefused | ConnectFailed
