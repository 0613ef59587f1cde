/**
 * `agent listen --mcp`: a small MCP server written with the official SDK (test/mcp/toolServer.ts)
 * is started as a child and its tools are served to other agents over a real data channel; only
 * `--allow` DIDs may call; a crash of the child is a typed error, then a restart, and after too
 * many a report, never a hang.
 */
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Schedule } from "effect"
import * as Describe from "../../src/protocol/Describe.ts"
import type { Did } from "../../src/protocol/Did.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import { line, runCli } from "../processes.ts"
import { agent, cliProcess, gateway, registered, tempDir, TOOL_SERVER } from "./fixtures.ts"
import { makeServer } from "./toolServer.ts"

describe("agent listen --mcp (an MCP SDK server bridged to the network)", () => {
  it.live("serves the MCP tools to allowed DIDs, UNAUTHORIZED to others, restarts a crashed child and then gives up", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const alice = yield* agent(url, {}, yield* Identity.generate)
      const mallory = yield* agent(url)
      const listener = yield* cliProcess([
        "agent", "listen", "--gateway", url, "--identity", `${tempDir()}/id.json`, "--mcp", TOOL_SERVER, "--allow", alice.did
      ])
      const listening = yield* line(listener.lines, /^listening as (\S+) serving (.*)$/)
      const did = listening[1] as Did
      assert.deepStrictEqual(listening[2]!.split(", ").sort(), ["add", "crash", "fail", "shout"])

      // The directory lists the tools as capabilities; ioap.describe gives their input schemas.
      // (listening is printed once the agent runs; its registration follows)
      const found = yield* alice.discover({ capability: "add" }).pipe(
        Effect.repeat({ until: (entries) => entries.length > 0, schedule: Schedule.spaced("200 millis") }),
        Effect.timeout("20 seconds")
      )
      assert.deepStrictEqual(found.map((e) => e.did), [did])
      assert.strictEqual(found[0]!.capabilities.find((c) => c.id === "add")?.description, "Adds two numbers.")
      const session = yield* alice.connect(did)
      const described = yield* Describe.decode(yield* session.request(Describe.DESCRIBE, {}))
      const add = described.capabilities.find((c) => c.id === "add")!
      assert.deepStrictEqual(add.input_schema, { type: "object", properties: { a: { type: "number" }, b: { type: "number" } }, required: ["a", "b"] })

      // Both tools, called by an allowed DID.
      assert.deepStrictEqual(yield* session.request("add", { a: 2, b: 3 }), { content: [{ type: "text", text: "5" }], structuredContent: { sum: 5 } })
      assert.deepStrictEqual(yield* session.request("shout", { text: "hi" }), { content: [{ type: "text", text: "HI" }] })
      const failed = yield* Effect.flip(session.request("fail", {}))
      assert.strictEqual(failed.code, "TOOL_ERROR")
      assert.strictEqual(failed.reason, "this tool always fails")

      // Anyone else: UNAUTHORIZED (ioap.describe stays open).
      const other = yield* mallory.connect(did)
      const refused = yield* Effect.flip(other.request("add", { a: 1, b: 1 }))
      assert.strictEqual(refused.code, "UNAUTHORIZED")
      assert.strictEqual((yield* Describe.decode(yield* other.request(Describe.DESCRIBE, {}))).capabilities.length, 4)

      // The child crashes mid-call: a typed error at once, then it is restarted and serves again.
      const crashed = yield* Effect.flip(session.request("crash", {}, { timeoutMs: 20_000 }))
      assert.strictEqual(crashed.code, "UNAVAILABLE")
      assert.deepStrictEqual(yield* session.request("add", { a: 20, b: 22 }, { timeoutMs: 20_000 }), { content: [{ type: "text", text: "42" }], structuredContent: { sum: 42 } })
      yield* line(listener.lines, /the MCP server was restarted/)

      // It keeps crashing: after 3 restarts within the window it is reported and stays down.
      for (let i = 0; i < 3; i++) {
        assert.strictEqual((yield* Effect.flip(session.request("crash", {}, { timeoutMs: 20_000 }))).code, "UNAVAILABLE")
      }
      const down = yield* Effect.flip(session.request("add", { a: 1, b: 2 }, { timeoutMs: 20_000 }))
      assert.strictEqual(down.code, "UNAVAILABLE")
      assert.match(down.reason, /not restarted again/)
      yield* line(listener.lines, /not restarted again/)
    }).pipe(Effect.scoped), { timeout: 90_000 })
})

describe("agent listen --mcp-url (an MCP SDK server over streamable HTTP)", () => {
  it.live("serves the tools of an HTTP MCP server to an allowed DID", () =>
    Effect.gen(function*() {
      const url = yield* gateway
      const alice = yield* agent(url)
      const endpoint = yield* httpToolServer
      const listener = yield* cliProcess([
        "agent", "listen", "--gateway", url, "--identity", `${tempDir()}/id.json`, "--mcp-url", endpoint, "--allow", alice.did
      ])
      const did = (yield* line(listener.lines, /^listening as (\S+) serving (.*)$/))[1] as Did
      yield* registered(alice, did)
      const session = yield* alice.connect(did)
      assert.deepStrictEqual(yield* session.request("add", { a: 1, b: 2 }), { content: [{ type: "text", text: "3" }], structuredContent: { sum: 3 } })
      assert.deepStrictEqual(yield* session.request("shout", { text: "http" }), { content: [{ type: "text", text: "HTTP" }] })
    }).pipe(Effect.scoped), { timeout: 60_000 })
})

/** The SDK test server over stateless streamable HTTP on 127.0.0.1 (one server per request); its URL. */
const httpToolServer = Effect.acquireRelease(
  Effect.promise(() =>
    new Promise<{ server: Server; url: string }>((resolve) => {
      const server = createServer((request, response) => {
        if (request.method !== "POST") {
          response.writeHead(405).end()
          return
        }
        let body = ""
        request.on("data", (chunk: Buffer) => (body += chunk.toString()))
        request.on("end", async () => {
          const mcp = makeServer()
          const transport = new StreamableHTTPServerTransport({})
          response.on("close", () => {
            void transport.close()
            void mcp.close()
          })
          await mcp.connect(transport)
          await transport.handleRequest(request, response, JSON.parse(body))
        })
      })
      server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp` }))
    })
  ),
  ({ server }) => Effect.promise(() => new Promise<void>((resolve) => server.close(() => resolve())))
).pipe(Effect.map(({ url }) => url))

describe("agent listen --mcp with a bad command", () => {
  it.live("a program that does not exist, or shell syntax, is one clear line and exit 1", () =>
    Effect.gen(function*() {
      const dir = tempDir()
      const missing = yield* runCli(["agent", "listen", "--identity", `${dir}/id.json`, "--mcp", "no-such-program-xyz --flag"])
      assert.strictEqual(missing.code, 1)
      assert.match(missing.output, /^error: cannot start the MCP server 'no-such-program-xyz --flag': /m)
      assert.notInclude(missing.output, "    at ")
      const piped = yield* runCli(["agent", "listen", "--identity", `${dir}/id.json`, "--mcp", "node tools.js | cat"])
      assert.strictEqual(piped.code, 1)
      assert.match(piped.output, /^error: cannot start the MCP server 'node tools.js \| cat': .*needs a shell/m)
    }), { timeout: 60_000 })
})
