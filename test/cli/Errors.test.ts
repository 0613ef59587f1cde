/**
 * What the command line says when something is wrong, as processes: an unreachable or wrong
 * gateway, `agent listen`'s connection status and final stops, a port in use, bad configuration,
 * a bad argument, calling one's own DID; and `--version`.
 * Every process gets its HOME from the test run (test/isolatedHome.ts) or a temporary one.
 */
import { readFileSync } from "node:fs"
import { createServer as createHttpServer } from "node:http"
import { createServer as createTcpServer, type Server } from "node:net"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"
import { freePort, startProcess } from "../gateway/fixtures.ts"
import { background, CLI, line, ROOT, runCli, runNode, temporaryFolder } from "../processes.ts"

const temporary = temporaryFolder
const OTHER_DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"

/** A server on a random loopback port, closed with the scope. */
const listening = <S extends Server | ReturnType<typeof createHttpServer>>(server: S) =>
  Effect.acquireRelease(
    Effect.callback<number>((resume) => {
      server.listen(0, "127.0.0.1", () => resume(Effect.succeed((server.address() as { port: number }).port)))
    }),
    () => Effect.sync(() => server.close())
  )

describe("one-shot commands and a gateway they cannot use", () => {
  it.live("discover, agent call and agent send fail at once with the URL and the cause", () =>
    Effect.gen(function*() {
      const closed = yield* freePort
      const notFound = yield* listening(createHttpServer((_, response) => response.writeHead(404).end()))
      const identity = ["--identity", join(temporary("unreachable"), "id.json")]
      const cases = [
        [["discover", "--gateway", `ws://127.0.0.1:${closed}/ws`], `cannot reach the gateway at ws://127.0.0.1:${closed}/ws: connection refused`],
        [["agent", "call", OTHER_DID, "echo", "{}", "--gateway", `ws://127.0.0.1:${closed}/ws`], "connection refused"],
        [["agent", "send", OTHER_DID, "hi", "--gateway", `ws://127.0.0.1:${notFound}/ws`], `ws://127.0.0.1:${notFound}/ws: HTTP 404`],
        // A plain HTTP server where TLS was expected.
        [["discover", "--gateway", `wss://127.0.0.1:${notFound}/ws`], `wss://127.0.0.1:${notFound}/ws: TLS error`]
      ] as const
      for (const [args, expected] of cases) {
        // Bounded well under the 30 s a send used to wait before `SendTimeout`.
        const { code, output } = yield* runNode([...CLI, ...args, ...identity], { timeoutMs: 20_000 })
        assert.strictEqual(code, 1, output)
        assert.include(output, expected)
        assert.notInclude(output, "SendTimeout")
        assert.strictEqual(output.trim().split("\n").length, 1, output)
      }
    }), { timeout: 120_000 })
})

describe("agent listen and its gateway", () => {
  it.live("prints registered, lost and reconnected; a new gateway DID ends it non-zero, saying how to accept it", () =>
    Effect.gen(function*() {
      const port = yield* freePort
      const gatewayData = temporary("gw")
      const identity = join(temporary("listener"), "id.json")
      const first = yield* startProcess(gatewayData, port)
      const listener = yield* background([...CLI, "agent", "listen", "--gateway", first.url, "--identity", identity])
      yield* line(listener.lines, new RegExp(`^registered at ${first.url}$`))
      yield* line(listener.lines, /^listening as did:key:/)

      first.child.kill("SIGKILL")
      yield* first.exited
      yield* line(listener.lines, /^lost the gateway: .+; reconnecting$/)
      const again = yield* startProcess(gatewayData, port)
      assert.strictEqual(again.did, first.did)
      yield* line(listener.lines, new RegExp(`^reconnected to ${first.url}$`))

      // Another gateway (another key) on the same address: refused, and the listener stops.
      again.child.kill("SIGKILL")
      yield* again.exited
      const impostor = yield* startProcess(temporary("gw-other"), port)
      assert.notStrictEqual(impostor.did, first.did)
      const code = yield* listener.exited
      assert.strictEqual(code, 1, listener.lines.join("\n"))
      const error = (yield* line(listener.lines, /^error: .*/))[0]
      assert.include(error, `is ${impostor.did}, but ${first.did} is pinned`)
      assert.include(error, `remove the entry for ws://127.0.0.1:${port} from ${join(identity, "..", "known-gateways.json")}`)
    }).pipe(Effect.scoped), { timeout: 90_000 })

  it.live("a second process with the same identity replaces the first, which exits non-zero with the reason", () =>
    Effect.gen(function*() {
      const gateway = yield* startProcess(temporary("gw"))
      const identity = join(temporary("twice"), "id.json")
      const args = [...CLI, "agent", "listen", "--gateway", gateway.url, "--identity", identity]
      const first = yield* background(args)
      yield* line(first.lines, /^listening as /)
      const second = yield* background(args)
      yield* line(second.lines, /^listening as /)
      assert.strictEqual(yield* first.exited, 1, first.lines.join("\n"))
      yield* line(first.lines, /^error: another process registered this DID/)
    }).pipe(Effect.scoped), { timeout: 60_000 })

  it.live("--capability replaces echo; what it serves answers with its arguments; calling one's own DID is refused", () =>
    Effect.gen(function*() {
      const gateway = yield* startProcess(temporary("gw"))
      const folder = temporary("caps")
      const listener = yield* background([...CLI, "agent", "listen", "--gateway", gateway.url, "--identity", join(folder, "b.json"), "--capability", "translate"])
      const did = (yield* line(listener.lines, /^listening as (\S+) serving translate$/))[1]!
      const caller = ["--gateway", gateway.url, "--identity", join(folder, "a.json")]
      const translated = yield* runCli(["agent", "call", did, "translate", `{"text":"hi"}`, ...caller])
      assert.strictEqual(translated.code, 0, translated.output)
      assert.deepStrictEqual(JSON.parse(translated.output.trim().split("\n").at(-1)!), { text: "hi" })
      const echo = yield* runCli(["agent", "call", did, "echo", "{}", ...caller])
      assert.strictEqual(echo.code, 1, echo.output)
      assert.include(echo.output, "UNKNOWN_CAPABILITY")

      const self = yield* runCli(["agent", "call", did, "translate", "{}", "--gateway", gateway.url, "--identity", join(folder, "b.json")])
      assert.strictEqual(self.code, 1, self.output)
      assert.match(self.output, /^error: did:key:\S+ is this agent's own DID/m)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("aiconexus gateway: what cannot start says why in one line", () => {
  it.live("a port in use (also --metrics-port), an invalid variable, an out-of-range port", () =>
    Effect.gen(function*() {
      const taken = yield* listening(createTcpServer())
      const data = ["--data-dir", temporary("gw")]
      const inUse = yield* runCli(["gateway", "--port", String(taken), ...data])
      assert.strictEqual(inUse.code, 1, inUse.output)
      assert.strictEqual(inUse.output.trim(), `error: port ${taken} is in use on 127.0.0.1`)

      const gateway = yield* startProcess(temporary("gw"))
      const listener = yield* background([...CLI, "agent", "listen", "--gateway", gateway.url, "--identity", join(temporary("m"), "id.json"), "--metrics-port", String(taken)])
      assert.strictEqual(yield* listener.exited, 1, listener.lines.join("\n"))
      yield* line(listener.lines, new RegExp(`^error: port ${taken} is in use on 127.0.0.1$`))
      const badPort = yield* runNode([...CLI, "agent", "listen", "--gateway", gateway.url, "--identity", join(temporary("m"), "id.json")], {
        env: { AICONEXUS_METRICS_PORT: "99999" }
      })
      assert.strictEqual(badPort.code, 1, badPort.output)
      assert.match(badPort.output, /^error: invalid port: ports are 0-65535 /m)

      const cases: ReadonlyArray<readonly [Record<string, string>, ReadonlyArray<string>, string]> = [
        [{ AICONEXUS_PORT: "abc" }, [], `error: invalid configuration: AICONEXUS_PORT="abc": expected a string representing a finite number`],
        [{ AICONEXUS_AGENTS_ENDPOINT: "maybe" }, [], `error: invalid configuration: AICONEXUS_AGENTS_ENDPOINT="maybe": expected "auto" | "on" | "off"`],
        [{ AICONEXUS_PORT: "99999" }, [], "error: invalid gateway configuration: port (AICONEXUS_PORT, --port) must be 0-65535, not 99999"],
        [{ AICONEXUS_SESSION_TIMEOUT_MS: "100" }, [], `error: invalid gateway configuration: sessionTimeoutMs (AICONEXUS_SESSION_TIMEOUT_MS, 100) must exceed 2 × heartbeatIntervalMs (AICONEXUS_HEARTBEAT_INTERVAL_MS, ${GatewayConfig.defaults.heartbeatIntervalMs})`],
        [{}, ["--port", "99999"], "error: Invalid value for flag --port: \"99999\". Expected: Schema validation failed: Expected a value between 0 and 65535\nsee aiconexus gateway --help"]
      ]
      for (const [env, args, expected] of cases) {
        const { code, output } = yield* runNode([...CLI, "gateway", ...args, ...data], { env })
        assert.strictEqual(code, 1, output)
        assert.strictEqual(output.trim(), expected)
      }
    }).pipe(Effect.scoped), { timeout: 90_000 })

  it.live("--host 0.0.0.0 announces a URL a client can dial", () =>
    Effect.gen(function*() {
      const gateway = yield* background([...CLI, "gateway", "--host", "0.0.0.0", "--port", "0", "--data-dir", temporary("gw")])
      const url = (yield* line(gateway.lines, /listening on (\S+)/))[1]!
      assert.match(url, /^ws:\/\/127\.0\.0\.1:\d+\/ws$/)
      const found = yield* runCli(["discover", "--gateway", url, "--identity", join(temporary("d"), "id.json")])
      assert.strictEqual(found.code, 0, found.output)
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

describe("the command line itself", () => {
  it.live("a bad argument prints the error and where to read more, not the help text", () =>
    Effect.gen(function*() {
      const { code, output } = yield* runCli(["agent", "call", "not-a-did", "echo", "{}"])
      assert.strictEqual(code, 1)
      assert.deepStrictEqual(output.trim().split("\n"), [
        `error: Invalid value for argument <did>: "not-a-did". Expected: Schema validation failed: expected an Ed25519 did:key`,
        "see aiconexus agent call --help"
      ])
      const unknown = yield* runCli(["--bogus"])
      assert.deepStrictEqual(unknown.output.trim().split("\n"), ["error: Unrecognized flag: --bogus in command aiconexus", "see aiconexus --help"])
    }), { timeout: 30_000 })

  it.live("--version prints the package's version, bare and through the full parser", () =>
    Effect.gen(function*() {
      const { version } = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }
      for (const args of [["--version"], ["--log-level", "info", "--version"]]) {
        const { code, output } = yield* runCli(args)
        assert.strictEqual(code, 0, output)
        assert.strictEqual(output.trim(), `aiconexus v${version}`)
      }
    }), { timeout: 30_000 })
})
