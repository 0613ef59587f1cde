/**
 * A real `redis-server` for tests, on a free loopback port, with no persistence: started by the
 * test, stopped in its finalizer. It can be killed and started again on the same port (an outage).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Redacted, type Scope } from "effect"
import { createClient } from "redis"
import { freePort } from "./fixtures.ts"

export interface RedisServerOptions {
  /** `requirepass`: clients must AUTH with it. */
  readonly password?: string
  /** Serve TLS only, with a certificate for 127.0.0.1 signed by a CA made for the test. */
  readonly tls?: boolean
}

export interface RedisServer {
  readonly port: number
  /** The server's process id (a restart changes it). */
  readonly pid: number
  /** The URL a gateway dials (credentials included). */
  readonly url: Redacted.Redacted<string>
  /** The CA file of a TLS server. */
  readonly caFile: string | undefined
  /** Kills the server (SIGKILL: an outage, not a shutdown). */
  readonly kill: Effect.Effect<void>
  /** Starts it again on the same port, empty. */
  readonly restart: Effect.Effect<void, Error>
}

/** A CA and a server certificate for 127.0.0.1, made with openssl in a fresh directory. */
const makeCertificates = () => {
  const dir = mkdtempSync(join(tmpdir(), "aiconexus-redis-tls-"))
  const run = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" })
  run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=aiconexus test CA")
  run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
  writeFileSync(join(dir, "server.ext"), "subjectAltName=IP:127.0.0.1\n")
  run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2",
    "-extfile", "server.ext")
  return { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") }
}

const spawnServer = (args: ReadonlyArray<string>) =>
  Effect.callback<ChildProcess, Error>((resume) => {
    const child = spawn("redis-server", [...args], { stdio: ["ignore", "pipe", "pipe"] })
    let output = ""
    child.stdout!.on("data", (chunk: Buffer) => {
      output += chunk.toString()
      if (output.includes("Ready to accept connections")) resume(Effect.succeed(child))
    })
    child.on("error", (error) => resume(Effect.fail(new Error(`redis-server could not start (is it installed?): ${error.message}`))))
    child.on("exit", (code) => resume(Effect.fail(new Error(`redis-server exited with ${code}: ${output}`))))
  }).pipe(Effect.timeoutOrElse({ duration: "15 seconds", orElse: () => Effect.fail(new Error("redis-server did not start in 15 s")) }))

const killChild = (child: ChildProcess) =>
  Effect.callback<void>((resume) => {
    if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
    child.once("exit", () => resume(Effect.void))
    child.kill("SIGKILL")
  })

/** Starts a `redis-server`; it is killed when the scope closes. */
export const start = (options: RedisServerOptions = {}): Effect.Effect<RedisServer, Error, Scope.Scope> =>
  Effect.gen(function*() {
    const port = yield* freePort
    const certificates = options.tls === true ? makeCertificates() : undefined
    const dir = mkdtempSync(join(tmpdir(), "aiconexus-redis-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    const args = [
      "--bind", "127.0.0.1",
      "--save", "",
      "--appendonly", "no",
      "--dir", dir,
      ...(options.password === undefined ? [] : ["--requirepass", options.password]),
      ...(certificates === undefined
        ? ["--port", String(port)]
        : ["--port", "0", "--tls-port", String(port), "--tls-cert-file", certificates.cert, "--tls-key-file", certificates.key,
          "--tls-ca-cert-file", certificates.ca, "--tls-auth-clients", "no"])
    ]
    let child = yield* spawnServer(args)
    yield* Effect.addFinalizer(() => killChild(child))
    const credentials = options.password === undefined ? "" : `:${encodeURIComponent(options.password)}@`
    return {
      port,
      get pid() {
        return child.pid ?? -1
      },
      url: Redacted.make(`${certificates === undefined ? "redis" : "rediss"}://${credentials}127.0.0.1:${port}`),
      caFile: certificates?.ca,
      kill: Effect.suspend(() => killChild(child)),
      restart: Effect.map(spawnServer(args), (started) => void (child = started))
    }
  })

/** A plain node-redis client of `server`, for a test to look at or tamper with the store; closed with the scope. */
export const client = (server: RedisServer) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const connection = createClient({ url: Redacted.value(server.url) })
      await connection.connect()
      return connection
    }),
    (connection) => Effect.promise(() => connection.close())
  )
