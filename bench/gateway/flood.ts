/**
 * The flooders of `npm run bench -- gateway`, in a process of their own. argv[2]:
 * `{"url","durationMs"}`. Four sockets, each reconnecting whenever the gateway closes it:
 * - valid: a registered agent sending valid signed OFFERs (to a sink agent) as fast as its socket
 *   takes them (the gateway rate-limits, then closes it with 4003);
 * - junk: a registered agent sending invalid JSON at full rate (closed with 4000);
 * - giant: 200 KiB frames, one per connection (closed with 1009);
 * - stranger: garbage from an unregistered socket at full rate (closed with 4002).
 * Emits `flooding` once all four run and `flood-done` with counts at the end (after
 * `durationMs` or on `stop`).
 */
import { Effect } from "effect"
import type WebSocket from "ws"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as Clients from "./clients.ts"
import { commands, emit, offerDraft, signSync, sleep } from "./common.ts"

const job = JSON.parse(process.argv[2] ?? "{}") as { url: string; durationMs: number }
const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))

let stopped = false
const open = new Set<WebSocket>()
const started = performance.now()

interface Stats {
  connections: number
  refused: number
  frames: number
  bytes: number
  closes: Record<string, number>
}
const stats: Record<string, Stats> = {}
const statsOf = (name: string): Stats => (stats[name] ??= { connections: 0, refused: 0, frames: 0, bytes: 0, closes: {} })

const finish = () => {
  if (stopped) return
  stopped = true
  for (const socket of open) socket.terminate()
  const seconds = (performance.now() - started) / 1000
  emit({ event: "flood-done", seconds, stats })
  setTimeout(() => process.exit(0), 50)
}
commands((line) => {
  if (line === "stop" || line === "exit") finish()
})
setTimeout(finish, job.durationMs)

/** Sends `frame()` while the socket is open and takes it; resolves with the close code. */
const blast = (name: string, socket: WebSocket, frame: () => string) =>
  new Promise<number>((resolve) => {
    const s = statsOf(name)
    let closed = false
    socket.on("close", (code) => {
      closed = true
      open.delete(socket)
      s.closes[code] = (s.closes[code] ?? 0) + 1
      resolve(code)
    })
    const pump = () => {
      if (closed || stopped) return
      // At most 256 frames per turn of the event loop, so closes and commands are seen.
      for (let n = 0; n < 256 && socket.bufferedAmount < 256 * 1024 && socket.readyState === 1; n++) {
        const text = frame()
        socket.send(text)
        s.frames++
        s.bytes += text.length
      }
      setImmediate(pump)
    }
    pump()
  })

/** Runs `session` again each time the previous connection ended, until stopped. */
const loop = async (name: string, connect: () => Promise<WebSocket>, session: (socket: WebSocket) => Promise<unknown>) => {
  while (!stopped) {
    let socket: WebSocket
    try {
      socket = await connect()
    } catch {
      statsOf(name).refused++
      await sleep(5)
      continue
    }
    if (stopped) {
      socket.terminate()
      break
    }
    open.add(socket)
    statsOf(name).connections++
    await session(socket)
  }
}

const main = async () => {
  const sender = generate()
  const sinkIdentity = generate()
  const sink = await Clients.gateway(job.url, sinkIdentity)
  open.add(sink)
  // Valid, signed, unique within a session (a new session has a new replay record).
  const valid = Array.from({ length: 2000 }, () => signSync(sender, offerDraft(sender, sinkIdentity.did)))
  const junkIdentity = generate()
  let k = 0
  const giant = "x".repeat(200 * 1024)

  const floods = [
    loop("valid", () => Clients.gateway(job.url, sender), (socket) => blast("valid", socket, () => valid[k++ % valid.length]!)),
    loop("junk", () => Clients.gateway(job.url, junkIdentity), (socket) => blast("junk", socket, () => "{\"not json")),
    loop("giant", () => Clients.unregistered(job.url), (socket) =>
      new Promise<void>((resolve) => {
        const s = statsOf("giant")
        socket.on("close", (code) => {
          open.delete(socket)
          s.closes[code] = (s.closes[code] ?? 0) + 1
          resolve()
        })
        socket.send(giant)
        s.frames++
        s.bytes += giant.length
      })),
    loop("stranger", () => Clients.unregistered(job.url), (socket) => blast("stranger", socket, () => "\u0000garbage, not an envelope"))
  ]
  emit({ event: "flooding" })
  await Promise.all(floods)
}

main().catch((cause) => {
  console.error("flood failed:", cause)
  process.exit(1)
})
