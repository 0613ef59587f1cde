/**
 * MCP bridge tests: a gateway and agents in this process, `aiconexus mcp` / `agent listen --mcp`
 * as child processes, and the official MCP TypeScript SDK (`@modelcontextprotocol/sdk`) as the
 * client and as the server on the other side.
 */
import { spawn } from "node:child_process"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Client } from "@modelcontextprotocol/sdk/client/index.js"
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js"
import { Context, Effect, Layer, Schedule } from "effect"
import { Agent } from "../../src/agent/Agent.ts"
import * as Gateway from "../../src/gateway/Gateway.ts"
import { testConfig } from "../gateway/fixtures.ts"
import { CLI, ROOT } from "../processes.ts"
export { agent } from "../agent/fixtures.ts"

/** A gateway in this process; its WebSocket URL. */
export const gateway = Effect.map(Layer.build(Gateway.layerMemory(testConfig())), (context) => Context.get(context, Gateway.Gateway).url)

/** The command line of the SDK test MCP server (test/mcp/toolServer.ts). */
export const TOOL_SERVER = `${process.execPath} ${join(ROOT, "test/mcp/toolServer.ts")}`

/** A new directory for identity files. */
export const tempDir = () => mkdtempSync(join(tmpdir(), "aiconexus-mcp-"))

/** An SDK client connected over stdio to `node src/cli/main.ts ...args`; its stderr lines; closed with the scope. */
export const sdkClient = (args: ReadonlyArray<string>, options: ConstructorParameters<typeof Client>[1] = {}) =>
  Effect.acquireRelease(
    Effect.promise(async () => {
      const transport = new StdioClientTransport({
        command: process.execPath,
        args: [...CLI, ...args],
        cwd: ROOT,
        env: { ...process.env, AICONEXUS_LOG_LEVEL: "Info" } as Record<string, string>,
        stderr: "pipe"
      })
      const stderr: Array<string> = []
      transport.stderr?.on("data", (chunk: Buffer) => stderr.push(...chunk.toString().split("\n").filter((l) => l !== "")))
      const client = new Client({ name: "aiconexus-test", version: "0.0.0" }, options)
      // Anything on stdout that is not JSON-RPC (a stray log line) is reported here.
      const errors: Array<unknown> = []
      client.onerror = (error) => void errors.push(error)
      await client.connect(transport)
      return { client, transport, stderr, errors }
    }),
    ({ client }) => Effect.promise(() => client.close())
  )

/** Waits (up to 20 s) for `check` to hold. */
export const eventually = <A>(check: () => A | undefined, what: string) =>
  Effect.gen(function*() {
    while (true) {
      const value = check()
      if (value !== undefined) return value
      yield* Effect.sleep("50 millis")
    }
  }).pipe(Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`timed out waiting for ${what}`)) }))

/** The text of a tool result. */
export const textOf = (result: unknown): string =>
  ((result as { content: Array<{ type: string; text?: string }> }).content).map((c) => c.text ?? "").join("\n")

/** The JSON after the untrusted-data header of a result text. */
export const jsonOf = (result: unknown): unknown => JSON.parse(textOf(result).split("\n").slice(1).join("\n"))

/**
 * `node src/cli/main.ts ...args` in the background, its output lines as they come; stopped with
 * SIGTERM when the scope closes (so it stops its own children), SIGKILL if it has not exited in 5 s.
 */
export const cliProcess = (args: ReadonlyArray<string>) =>
  Effect.acquireRelease(
    Effect.sync(() => {
      const lines: Array<string> = []
      const child = spawn(process.execPath, [...CLI, ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"], env: { ...process.env } })
      const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter((l) => l !== ""))
      child.stdout.on("data", collect)
      child.stderr.on("data", collect)
      return { child, lines }
    }),
    ({ child }) =>
      Effect.callback<void>((resume) => {
        if (child.exitCode !== null || child.signalCode !== null) return resume(Effect.void)
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000)
        child.once("exit", () => {
          clearTimeout(timer)
          resume(Effect.void)
        })
        child.kill("SIGTERM")
      })
  )

/** Waits (up to 20 s) until `did` is in the directory `agent` sees (a process prints its DID before it has registered). */
export const registered = (agent: Agent["Service"], did: string) =>
  agent.discover({}).pipe(
    Effect.repeat({ until: (entries) => entries.some((e) => e.did === did), schedule: Schedule.spaced("200 millis") }),
    Effect.timeout("20 seconds")
  )
