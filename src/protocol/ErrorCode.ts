/**
 * The error codes of IoAP v1 (PROTOCOL.md section 3).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** Every code an `ERROR` payload, a `BYE` or a rejected envelope may carry. */
export const ErrorCode = Schema.Literals([
  "MALFORMED_MESSAGE",
  "UNSUPPORTED_VERSION",
  "UNSUPPORTED_TYPE",
  "MESSAGE_TOO_LARGE",
  "INVALID_SIGNATURE",
  "REPLAYED",
  "UNAUTHORIZED",
  "UNKNOWN_AGENT",
  "RATE_LIMITED",
  "SESSION_REPLACED",
  "TIMEOUT",
  "CONNECTION_REFUSED",
  "UNKNOWN_CAPABILITY",
  "CANCELLED",
  "INTERNAL_ERROR"
])

/** One IoAP v1 error code. */
export type ErrorCode = typeof ErrorCode.Type
