/**
 * End to end with processes: `aiconexus gateway`, `agent listen` and `agent call` / `agent send`
 * as separate processes, talking over a real data channel.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { background, CLI, line, runCli as run } from "../processes.ts"

describe("agent commands as processes", () => {
  it.live("gateway + agent listen + agent call / send / discover exchange over a real data channel", () =>
    Effect.gen(function*() {
      const dir = mkdtempSync(join(tmpdir(), "aiconexus-cli-"))
      const gateway = yield* background([...CLI, "gateway", "--port", "0", "--data-dir", join(dir, "gw")])
      const url = (yield* line(gateway.lines, /listening on (\S+)/))[1]!
      const listener = yield* background([...CLI, "agent", "listen", "--gateway", url, "--identity", join(dir, "b", "id.json"), "--capability", "echo", "--metrics-port", "0"])
      const metricsUrl = (yield* line(listener.lines, /metrics at (\S+)/))[1]!
      const did = (yield* line(listener.lines, /listening as (\S+)/))[1]!
      const caller = ["--gateway", url, "--identity", join(dir, "a", "id.json")]

      const found = yield* run(["discover", ...caller, "--capability", "echo"])
      assert.strictEqual(found.code, 0, found.output)
      assert.include(found.output, did)

      const called = yield* run(["agent", "call", did, "echo", "{\"text\":\"hi\",\"n\":2}", ...caller])
      assert.strictEqual(called.code, 0, called.output)
      assert.deepStrictEqual(JSON.parse(called.output.trim().split("\n").at(-1)!), { text: "hi", n: 2 })
      yield* line(listener.lines, /^call echo from did:key:/)

      const sent = yield* run(["agent", "send", did, "hello\u001b[2Jbob", ...caller])
      assert.strictEqual(sent.code, 0, sent.output)
      // Control characters from a peer are escaped when printed.
      const printed = (yield* line(listener.lines, /^intent from (\S+): (.*)$/))[2]!
      assert.include(printed, "hello\\u001b[2Jbob")
      assert.notInclude(printed, "\u001b")

      // The listener's metrics count both sessions and their traffic.
      const metrics = yield* Effect.promise(() => fetch(metricsUrl).then((response) => response.text()))
      const sample = (name: string) => Number(new RegExp(`^${name.replace(/[{}]/g, "\\$&")} (\\S+)$`, "m").exec(metrics)?.[1])
      assert.strictEqual(sample(`aiconexus_agent_peer_connections_total{role="answerer"}`), 2, metrics)
      assert.isAbove(sample(`aiconexus_agent_messages_total{direction="received"}`), 1, metrics)
      assert.isAbove(sample(`aiconexus_agent_bytes_total{direction="sent"}`), 100, metrics)
      assert.match(metrics, /^aiconexus_agent_peer_connections_active \d+$/m)

      const unknown = yield* run(["agent", "call", "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK", "echo", "{}", ...caller, "--timeout-ms", "2000"])
      assert.notStrictEqual(unknown.code, 0)
      assert.match(unknown.output, /^error: connection to did:key:\S+ failed: .*UNKNOWN_AGENT$/m)
      assert.notInclude(unknown.output, "    at ")
    }).pipe(Effect.scoped), { timeout: 90_000 })
})
