/**
 * What the CLI prints about text it does not control: peers' text, failures as one line, and
 * warnings about where key files go.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import * as Cause from "effect/Cause"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as NodeDataHome from "../protocol/NodeDataHome.ts"

/** Text from a peer, with control characters escaped so it cannot steer the terminal. */
export const printable = (text: string): string =>
  text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`)

interface SystemError {
  readonly code?: unknown
  readonly syscall?: unknown
  readonly port?: unknown
  readonly address?: unknown
  readonly cause?: unknown
}

/** A server that could not listen, said as a user can act on it (the Node error is in a cause chain). */
const listenFailure = (error: unknown): string | undefined => {
  for (let current = error as SystemError | undefined, depth = 0; current !== undefined && current !== null && depth < 8; depth++) {
    if (typeof current === "object") {
      const { address, code, port } = current
      if (code === "EADDRINUSE") return `port ${port} is in use${address === undefined ? "" : ` on ${address}`}`
      if (code === "EACCES" && current.syscall === "listen") return `no permission to listen on port ${port} (ports below 1024 need privileges)`
      if (code === "EADDRNOTAVAIL") return `cannot listen on ${address}: not an address of this machine`
      if (code === "ERR_SOCKET_BAD_PORT") return `invalid port: ports are 0-65535 (${(current as { message?: unknown }).message})`
    }
    current = typeof current === "object" ? current.cause as SystemError | undefined : undefined
  }
  return undefined
}

/**
 * A configuration value that does not parse: which variable, its value and why, in one line
 * (effect's ConfigError says it over several lines, as a path under a schema error).
 */
const configFailure = (error: unknown, env: Readonly<Record<string, string | undefined>>): string | undefined => {
  if (typeof error !== "object" || error === null || (error as { _tag?: unknown })._tag !== "ConfigError") return undefined
  const text = String((error as { cause?: unknown }).cause ?? "")
  const name = /at \["([A-Z0-9_]+)"/.exec(text)?.[1]
  const why = text.replace(/^[A-Za-z]*Error\(/, "").split("\n")[0]!.trim()
  if (name === undefined) return `invalid configuration: ${why}`
  return `invalid configuration: ${name}=${JSON.stringify(env[name] ?? "")}: ${why.charAt(0).toLowerCase()}${why.slice(1)}`
}

/** One line for a failure: the error's message (escaped), never a stack trace. */
export const describeFailure = (cause: Cause.Cause<unknown>, env: Readonly<Record<string, string | undefined>> = process.env): string => {
  const error = Cause.squash(cause)
  const text = listenFailure(error) ?? configFailure(error, env) ??
    (error instanceof Error ? error.message || error.name : String(error))
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
