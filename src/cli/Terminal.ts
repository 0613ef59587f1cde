/**
 * What the CLI prints about text it does not control: peers' text, failures as one line, and
 * warnings about where key files go.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { Cause, Console, Effect } from "effect"
import * as NodeDataHome from "../protocol/NodeDataHome.ts"

/** Text from a peer, with control characters escaped so it cannot steer the terminal. */
export const printable = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

/** One line for a failure: the error's message (escaped), never a stack trace. */
export const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  const text = error instanceof Error ? error.message || error.name : String(error)
  return printable(text.split("\n")[0]!)
}

/** Prints a failure as `error: <one line>` on stderr and makes the process exit with 1. */
export const reportFailure = (cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  Effect.andThen(Console.error(`error: ${describeFailure(cause)}`), Effect.sync(() => {
    process.exitCode = 1
  }))

/**
 * Before a key file is created inside a git work tree, a warning on stderr: a private key there
 * is one `git add .` away from a commit.
 */
export const warnIfKeyInGitWorkTree = (file: string): Effect.Effect<void> =>
  Effect.suspend(() => {
    if (existsSync(file)) return Effect.void
    const workTree = NodeDataHome.gitWorkTreeOf(file)
    return workTree === undefined
      ? Effect.void
      : Console.error(`warning: creating a private key at ${file}, inside the git work tree ${workTree}; keep it out of commits (.gitignore), or choose a file elsewhere`)
  })
