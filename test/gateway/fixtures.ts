/**
 * Gateways for tests: in-memory, on a random loopback port, with a fresh data directory.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Deferred, Effect, Schedule } from "effect"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import { CLI, ROOT } from "../processes.ts"

/** A configuration on 127.0.0.1 with a random port and a new data directory. */
export const testConfig = (overrides: Partial<GatewayConfig.GatewayConfig> = {}): GatewayConfig.GatewayConfig =>
  GatewayConfig.make({
    host: "127.0.0.1",
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), "aiconexus-gateway-")),
    ...overrides
  })

export interface GatewayProcess {
  readonly child: ChildProcess
  readonly url: string
  readonly did: string
  readonly exited: Effect.Effect<number | null>
}

/** `aiconexus gateway` as a separate process on a free port (`AICONEXUS_*` settings in `env`); killed when the scope closes. */
export const startProcess = (dataDir: string, port = 0, env: Record<string, string> = {}) =>
  Effect.gen(function*() {
    const exited = yield* Deferred.make<number | null>()
    const child = yield* Effect.acquireRelease(
      Effect.sync(() =>
        spawn(process.execPath, [...CLI, "gateway", "--port", String(port), "--data-dir", dataDir], {
          cwd: ROOT,
          stdio: ["ignore", "pipe", "pipe"],
          env: { ...process.env, AICONEXUS_LOG_LEVEL: "Warn", ...env }
        })
      ),
      (child) => Effect.sync(() => child.kill("SIGKILL"))
    )
    child.on("exit", (code) => Deferred.doneUnsafe(exited, Effect.succeed(code)))
    const banner = yield* Effect.callback<{ url: string; did: string }, Error>((resume) => {
      let output = ""
      child.stdout!.on("data", (chunk: Buffer) => {
        output += chunk.toString()
        const url = /listening on (\S+)/.exec(output)?.[1]
        const did = /gateway DID: (\S+)/.exec(output)?.[1]
        if (url !== undefined && did !== undefined) resume(Effect.succeed({ url, did }))
      })
      child.on("exit", (code) => resume(Effect.fail(new Error(`gateway exited with ${code}: ${output}`))))
    }).pipe(Effect.timeout("20 seconds"))
    return { child, ...banner, exited: Deferred.await(exited) } satisfies GatewayProcess
  })


/** A TCP port that was free a moment ago on 127.0.0.1. */
export const freePort = Effect.callback<number>((resume) => {
  const server = createServer()
  server.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as { port: number }
    server.close(() => resume(Effect.succeed(port)))
  })
})

/** Polls `check` every 100 ms until `holds` (at most `seconds`; then it fails). */
export const eventually = <A, E, R>(check: Effect.Effect<A, E, R>, holds: (a: A) => boolean, seconds = 20) =>
  check.pipe(
    Effect.flatMap((a) => (holds(a) ? Effect.succeed(a) : Effect.fail("not yet" as const))),
    Effect.retry({ schedule: Schedule.spaced("100 millis"), times: seconds * 10 })
  )
