import { assert } from "@effect/vitest"
import { Result, type Schema } from "effect"

/** The message of a decoding failure; fails the test if decoding succeeds. */
export const failureMessage = (result: Result.Result<unknown, Schema.SchemaError>): string => {
  if (Result.isSuccess(result)) assert.fail(`expected a failure, decoded ${JSON.stringify(result.success)}`)
  return result.failure.message
}
