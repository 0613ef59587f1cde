/**
 * A capability handler's typed failure: the caller receives its `code` and `reason` in the
 * `error` answer (any other handler failure is answered `INTERNAL_ERROR`, without details).
 *
 * @since 0.1.0
 */
import { Schema } from "effect"

/** Fail a handler with this to answer `error` with your own code (≤ 64 chars) and reason (≤ 1024). */
export class CapabilityError extends Schema.TaggedError<CapabilityError>()("CapabilityError", {
  code: Schema.String,
  reason: Schema.String
}) {
  override get message() {
    return `${this.code}: ${this.reason}`
  }
}

/** Whether a handler failure is a `CapabilityError`. */
export const isCapabilityError = (error: unknown): error is CapabilityError =>
  typeof error === "object" && error !== null && (error as { readonly _tag?: unknown })._tag === "CapabilityError"
