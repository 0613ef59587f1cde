/**
 * Agents as CLI processes in the lab: `agent listen` on host b, `agent call` from host a, and what
 * both printed about the path ICE selected.
 */
import { join } from "node:path"
import { assert } from "@effect/vitest"
import { Effect } from "effect"
import { finished, type Lab, waitLine } from "./Lab.ts"

/** The selected candidate pair as the CLI prints it (`path LOCAL ADDR -> REMOTE ADDR`). */
export interface Path {
  readonly local: string
  readonly localAddress: string
  readonly remote: string
  readonly remoteAddress: string
}

const PATH = /path (\S+) (\S+) -> (\S+) (\S+)$/

const toPath = (match: RegExpExecArray): Path => ({ local: match[1]!, localAddress: match[2]!, remote: match[3]!, remoteAddress: match[4]! })

/** The IP of `host:port`. */
export const ip = (address: string) => address.replace(/:\d+$/, "")

let runs = 0

/** GET /metrics of an agent in namespace `ns` (from inside it: the server binds its loopback). */
const scrape = (lab: Lab, ns: string, port: number) =>
  Effect.gen(function*() {
    const fetcher = yield* lab.spawn(ns, [process.execPath, "-e", `fetch("http://127.0.0.1:${port}/metrics").then((r) => r.text()).then((t) => process.stdout.write(t))`])
    return (yield* finished(fetcher)).output
  })

/** Flags of each side: `--transport`, `--ice-transport-policy`. */
export interface Sides {
  readonly listener?: ReadonlyArray<string>
  readonly caller?: ReadonlyArray<string>
  /** The caller on host b and the listener on host a (default: the other way round). */
  readonly callerOnB?: boolean
  /** Serve the listener's metrics on this port (in its namespace) and return them. */
  readonly metricsPort?: number
}

/**
 * Agent b listens (echo), agent a calls it with a fresh nonce over WebRTC: a request a → b and the
 * echoed answer b → a. Returns the paths both printed; the listener is stopped afterwards.
 */
export const callAcross = (lab: Lab, url: string, sides: Sides = {}) =>
  Effect.scoped(Effect.gen(function*() {
    const dir = join(lab.dir, `run-${++runs}`)
    const common = ["--gateway", url, "--allow-insecure-ws"]
    const [callerNs, listenerNs] = sides.callerOnB === true ? [lab.ns.b, lab.ns.a] : [lab.ns.a, lab.ns.b]
    const metrics = sides.metricsPort === undefined ? [] : ["--metrics-port", String(sides.metricsPort)]
    const listener = yield* lab.cli(listenerNs, ["agent", "listen", ...common, "--identity", join(dir, "b", "id.json"), ...metrics, ...(sides.listener ?? [])])
    const did = (yield* waitLine(listener, /listening as (\S+)/))[1]!
    const nonce = `n${Math.random().toString(36).slice(2)}`
    const caller = yield* lab.cli(callerNs, ["agent", "call", did, "echo", JSON.stringify({ nonce }), ...common, "--identity", join(dir, "a", "id.json"), ...(sides.caller ?? [])])
    const { code, output } = yield* finished(caller)
    assert.strictEqual(code, 0, `caller:\n${output}\nlistener:\n${listener.lines.join("\n")}`)
    // a → b: the listener printed the call with our nonce; b → a: the caller printed the echo.
    yield* waitLine(listener, new RegExp(`^call echo from did:key:\\S+: .*${nonce}`))
    assert.deepStrictEqual(JSON.parse(output.trim().split("\n").at(-1)!), { nonce })
    const callerPath = PATH.exec(output.split("\n").find((l) => l.startsWith("path ")) ?? "")
    assert.isNotNull(callerPath, output)
    const listenerPath = yield* waitLine(listener, /^session from \S+ path (\S+) (\S+) -> (\S+) (\S+)$/)
    if (process.env.NAT_DEBUG) console.log(output, "\n--- listener\n", listener.lines.join("\n"), JSON.stringify({ caller: toPath(callerPath!), listener: toPath(listenerPath) }))
    const scraped = sides.metricsPort === undefined ? "" : yield* scrape(lab, listenerNs, sides.metricsPort)
    return { caller: toPath(callerPath!), listener: toPath(listenerPath), metrics: scraped }
  }))

/** `agent call` expected to fail; its output. */
export const callFails = (lab: Lab, url: string, flags: ReadonlyArray<string>, fromB = false) =>
  Effect.gen(function*() {
    const dir = join(lab.dir, `run-${++runs}`)
    // Any registered-looking DID: the caller fails before it reaches the peer.
    const did = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
    const caller = yield* lab.cli(fromB ? lab.ns.b : lab.ns.a, ["agent", "call", did, "echo", "{}", "--gateway", url, "--allow-insecure-ws", "--identity", join(dir, "a", "id.json"), ...flags])
    return yield* finished(caller)
  }).pipe(Effect.scoped)
