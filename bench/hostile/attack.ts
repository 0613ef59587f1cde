/**
 * One attack on a gateway, in a process of its own, for `npm run bench -- hostile`. argv[2]:
 * `{"mode","url","sources":[loopback addresses],"durationMs"}`. Each source address stands for
 * one attacking host (the gateway's per-IP limits apply to it). Emits `attacking` once the attack
 * runs and `attack-done` with its counts at the end (after `durationMs` or on `stop`).
 *
 * Modes: frames (valid signed frames at full rate), junk (invalid frames), dupkeys (~60 KB frames
 * that JSON.parse accepts but that hold a duplicate name), unread (20 agents with ~14 KB of
 * capabilities, then 100 sessions that never read and send PING 10/s and DISCOVER 1/s), idle-tcp
 * (as many idle TCP connections as a source can hold), slow-handshake (upgrade requests one byte
 * at a time), churn (connect, register, close, as fast as the gateway admits), scrape (DISCOVER
 * through every page as fast as allowed). Every socket the gateway closes is opened again.
 */
import { connect as tcpConnect, type Socket } from "node:net"
import { Effect } from "effect"
import type WebSocket from "ws"
import type * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as Clients from "../gateway/clients.ts"
import { commands, emit, offerDraft, signSync, sleep } from "../gateway/common.ts"

interface Job {
  readonly mode: string
  readonly url: string
  readonly sources: ReadonlyArray<string>
  readonly durationMs: number
}
const job = JSON.parse(process.argv[2] ?? "{}") as Job
const generate = () => Effect.runSync(Effect.provide(Identity.generate, NodeEd25519.layer))
const { hostname, port } = new URL(job.url)

let stopped = false
const sockets = new Set<{ destroy: () => void }>()
const counts: Record<string, number> = {}
const count = (name: string, n = 1) => void (counts[name] = (counts[name] ?? 0) + n)

const finish = () => {
  if (stopped) return
  stopped = true
  for (const socket of sockets) socket.destroy()
  emit({ event: "attack-done", counts })
  setTimeout(() => process.exit(0), 50)
}
commands((line) => {
  if (line === "stop" || line === "exit") finish()
})
setTimeout(finish, job.durationMs)

/** A registered session from `source`; counted, and forgotten when it closes. */
const registered = async (source: string, identity = generate(), capabilities?: Clients.ClientOptions["capabilities"]) => {
  const socket = await Clients.gateway(job.url, identity, 10_000, { localAddress: source, ...(capabilities === undefined ? {} : { capabilities }) })
  const handle = { destroy: () => socket.terminate() }
  sockets.add(handle)
  socket.on("close", (code) => {
    sockets.delete(handle)
    count(`closed ${code}`)
  })
  return { socket, identity }
}

/** A registration the attack needs before it starts (listed agents): tried again until admitted. */
const setup = async (source: string, capabilities: Clients.ClientOptions["capabilities"]) => {
  while (true) {
    try {
      return await registered(source, generate(), capabilities)
    } catch {
      await sleep(200)
    }
  }
}

/** Runs `session` again whenever it ends (the gateway closed it, or it could not connect), until the attack stops. */
const forever = async (session: () => Promise<void>) => {
  while (!stopped) {
    try {
      await session()
    } catch (cause) {
      count(cause instanceof Clients.ConnectFailed && cause.status !== undefined ? `refused ${cause.status}` : "failed to connect")
      await sleep(50)
    }
  }
}

/** Sends `frame(i)` as fast as the socket drains, until it closes. */
const blast = (socket: WebSocket, frame: (i: number) => string | Uint8Array) =>
  new Promise<void>((resolve) => {
    let i = 0
    socket.on("close", () => resolve())
    const pump = () => {
      if (stopped || socket.readyState !== 1) return resolve()
      // A bounded round, then a turn of the event loop (a socket the gateway dropped may still read as open).
      for (let round = 0; round < 64 && socket.bufferedAmount < 256 * 1024 && socket.readyState === 1; round++) {
        socket.send(frame(i++))
        count("frames")
      }
      setImmediate(pump)
    }
    pump()
  })

const perSource = <A>(n: number, run: (source: string, i: number) => Promise<A>) =>
  Promise.all(job.sources.flatMap((source) => Array.from({ length: n }, (_, i) => run(source, i))))

// ---------------------------------------------------------------------------

const frames = async () => {
  const sink = await registered(job.sources[0]!)
  sink.socket.on("message", () => count("sink received"))
  emit({ event: "attacking" })
  await perSource(4, (source) =>
    forever(async () => {
      const { socket, identity } = await registered(source)
      // Unique envelopes (no replays): the gateway's rate limit, not its replay guard, has to stop them.
      const signed = Array.from({ length: 400 }, () => signSync(identity, offerDraft(identity, sink.identity.did)))
      await blast(socket, (i) => signed[i % signed.length]!)
    }))
}

const junk = async () => {
  emit({ event: "attacking" })
  await perSource(4, (source) =>
    forever(async () => {
      const { socket } = await registered(source)
      await blast(socket, (i) => (i % 3 === 0 ? `{"not":"an envelope","i":${i}}` : i % 3 === 1 ? new Uint8Array(64) : "x".repeat(1000)))
    }))
}

/** A frame of ~60 KB that JSON.parse accepts and that writes one member name twice. */
const duplicateKeyFrame = (() => {
  const members = Array.from({ length: 2200 }, (_, i) => `"k${i}":[1,"two",{"t":"x"}]`).join(",")
  return `{${members},"k0":0}`
})()

const dupkeys = async () => {
  emit({ event: "attacking", frameBytes: duplicateKeyFrame.length })
  await perSource(4, (source) =>
    forever(async () => {
      const { socket } = await registered(source)
      await blast(socket, () => duplicateKeyFrame)
    }))
}

const unread = async () => {
  const source = job.sources[0]!
  // Agents whose capabilities fill PEERS answers (the gateway caps one answer at max_message_bytes).
  for (let a = 0; a < 20; a++) {
    const capabilities = Array.from({ length: 30 }, (_, c) => ({ id: `capability-${a}-${c}`, description: "d".repeat(440) }))
    await setup(source, capabilities)
  }
  emit({ event: "attacking" })
  await perSource(100, (from) =>
    forever(async () => {
      const { socket, identity } = await registered(from)
      const raw = (socket as unknown as { _socket: Socket })._socket
      raw.pause()
      count("never-reading sessions")
      await new Promise<void>((resolve) => {
        let tick = 0
        const timer = setInterval(() => {
          if (stopped || socket.readyState !== 1) {
            clearInterval(timer)
            return resolve()
          }
          const draft: Envelope.Draft<"PING" | "DISCOVER"> = tick++ % 10 === 0
            ? { type: "DISCOVER", to: gatewayDid!, payload: { limit: 100 } }
            : { type: "PING", to: gatewayDid!, payload: {} }
          socket.send(signSync(identity, draft as Envelope.Draft<"PING">))
          count("frames")
        }, 100)
        socket.on("close", () => {
          clearInterval(timer)
          resolve()
        })
      })
    }))
}

/** Idle TCP connections each source keeps open at most (two sources stay under the process's 20,000 descriptors). */
const IDLE_PER_SOURCE = 9000

const idleTcp = async () => {
  emit({ event: "attacking" })
  const open = new Map<string, number>()
  let total = 0
  const openOne = (source: string): Promise<void> =>
    new Promise((resolve) => {
      const socket = tcpConnect({ host: hostname, port: Number(port), localAddress: source })
      sockets.add(socket)
      let connected = false
      socket.on("error", () => undefined)
      socket.on("connect", () => {
        connected = true
        open.set(source, (open.get(source) ?? 0) + 1)
        total++
        counts["held at most"] = Math.max(counts["held at most"] ?? 0, total)
        resolve()
      })
      socket.on("close", () => {
        sockets.delete(socket)
        count("dropped by the gateway")
        if (!connected) return resolve()
        open.set(source, open.get(source)! - 1)
        total--
      })
    })
  // Each source keeps up to IDLE_PER_SOURCE open, 50 opening at a time, and opens again what is dropped.
  await perSource(50, async (source) => {
    while (!stopped) {
      if ((open.get(source) ?? 0) >= IDLE_PER_SOURCE) {
        await sleep(100)
        continue
      }
      await openOne(source)
      count("opened")
    }
  })
}

const slowHandshake = async () => {
  emit({ event: "attacking" })
  await perSource(200, (source) =>
    forever(() =>
      new Promise<void>((resolve) => {
        const socket = tcpConnect({ host: hostname, port: Number(port), localAddress: source })
        sockets.add(socket)
        const request = `GET /ws HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n`
        let at = 0
        let timer: ReturnType<typeof setInterval> | undefined
        socket.on("error", () => undefined)
        socket.on("connect", () => {
          count("opened")
          timer = setInterval(() => {
            if (stopped) return socket.destroy()
            socket.write(request[at % request.length]!)
            at++
          }, 500)
        })
        socket.on("close", () => {
          clearInterval(timer)
          sockets.delete(socket)
          count("dropped by the gateway")
          resolve()
        })
      })))
}

const churn = async () => {
  emit({ event: "attacking" })
  await perSource(8, (source) =>
    forever(async () => {
      const { socket } = await registered(source)
      count("registrations")
      socket.close(1000)
      await new Promise<void>((resolve) => socket.on("close", () => resolve()))
    }))
}

const scrape = async () => {
  const source = job.sources[0]!
  for (let a = 0; a < 20; a++) await setup(source, [{ id: `listed-${a}` }])
  emit({ event: "attacking" })
  await perSource(16, (from) =>
    forever(async () => {
      const { socket, identity } = await registered(from)
      let cursor: string | undefined
      socket.on("message", (data: Buffer) => {
        const text = data.toString()
        if (text.includes("\"type\":\"PEERS\"")) {
          count("pages")
          cursor = (JSON.parse(text) as { payload: { next_cursor?: string } }).payload.next_cursor
        } else if (text.includes("RATE_LIMITED")) count("rate limited")
      })
      await blast(socket, () =>
        signSync(identity, { type: "DISCOVER", to: gatewayDid!, payload: { limit: 1, ...(cursor === undefined ? {} : { cursor }) } }))
    }))
}

// The gateway's DID, for the frames addressed to it: from one CHALLENGE.
let gatewayDid: Identity.Identity["did"] | undefined
const learnGatewayDid = async () => {
  const socket = await Clients.unregistered(job.url, 10_000, job.sources[0])
  gatewayDid = await new Promise<Identity.Identity["did"]>((resolve) =>
    socket.once("message", (data: Buffer) => resolve((JSON.parse(data.toString()) as { from: Identity.Identity["did"] }).from)))
  socket.terminate()
}

const modes: Record<string, () => Promise<void>> = {
  frames,
  junk,
  dupkeys,
  unread,
  "idle-tcp": idleTcp,
  "slow-handshake": slowHandshake,
  churn,
  scrape
}

learnGatewayDid().then(() => modes[job.mode]!()).then(
  () => finish(),
  (cause) => {
    console.error(`attack ${job.mode} failed:`, cause)
    process.exit(1)
  }
)
