/**
 * A user-space UDP relay on 127.0.0.1 that a test can pause, and a Signaling tap that makes both
 * peers' ICE go through it: the network path between two loopback peers, broken for real.
 *
 * Every real endpoint X (a host candidate 127.0.0.1:x) gets a proxy socket P(X). The tap rewrites
 * each candidate a peer signals (trickled, or inside its SDP) from x to P(X)'s port, so each side
 * only knows the other's proxies. A datagram from X arriving at P(Y) is sent to Y from P(X): Y sees
 * it come from the address it was told. Paused, the relay drops every datagram.
 */
import * as Dgram from "node:dgram"
import { Effect, Layer } from "effect"
import type { Signaling } from "../../src/client/Signaling.ts"
import { wrapSend } from "./signalingSend.ts"

export interface UdpRelay {
  /** The proxy port standing for 127.0.0.1:`port` (opened on first use). */
  readonly proxyFor: (port: number) => Effect.Effect<number>
  /** Drops every datagram from now on. */
  readonly pause: Effect.Effect<void>
  /** Forwards again. */
  readonly resume: Effect.Effect<void>
  readonly counts: () => { readonly forwarded: number; readonly dropped: number }
}

const HOST = "127.0.0.1"

/** A lossy path: each datagram is dropped with probability `loss`, the others held `delayMs`. */
export interface PathOptions {
  readonly loss?: number
  readonly delayMs?: number
  /** The generator of the drops (default Math.random). */
  readonly random?: () => number
}

/** A relay whose sockets close with the scope. */
export const make = Effect.suspend(() => makeWith({}))

/** A relay over a lossy, slow path; its sockets close with the scope. */
export const makeWith = (options: PathOptions) => Effect.gen(function*() {
  const loss = options.loss ?? 0
  const delayMs = options.delayMs ?? 0
  const random = options.random ?? Math.random
  const proxies = new Map<number, Dgram.Socket>() // real port → its proxy socket
  const reals = new Map<number, number>() // proxy port → real port
  let paused = false
  let forwarded = 0
  let dropped = 0

  const open = (real: number) =>
    Effect.callback<Dgram.Socket>((resume) => {
      const socket = Dgram.createSocket("udp4")
      socket.on("error", () => undefined)
      socket.on("message", (message, from) => {
        const target = reals.get(socket.address().port)
        const via = proxies.get(from.port)
        if (paused || target === undefined || via === undefined || from.address !== HOST) {
          dropped++
          return
        }
        if (loss > 0 && random() < loss) {
          dropped++
          return
        }
        forwarded++
        if (delayMs > 0) {
          setTimeout(() => {
            try {
              via.send(message, target, HOST)
            } catch {
              // The relay closed meanwhile: the datagram is lost, as on a path that went away.
            }
          }, delayMs)
        }
        else via.send(message, target, HOST)
      })
      socket.bind(0, HOST, () => {
        proxies.set(real, socket)
        reals.set(socket.address().port, real)
        resume(Effect.succeed(socket))
      })
    })

  const proxyFor = (port: number): Effect.Effect<number> =>
    Effect.suspend(() => {
      const existing = proxies.get(port)
      return existing !== undefined ? Effect.succeed(existing.address().port) : Effect.map(open(port), (s) => s.address().port)
    })

  yield* Effect.addFinalizer(() =>
    Effect.sync(() => {
      for (const socket of proxies.values()) socket.close()
      proxies.clear()
    })
  )
  return {
    proxyFor,
    pause: Effect.sync(() => void (paused = true)),
    resume: Effect.sync(() => void (paused = false)),
    counts: () => ({ forwarded, dropped })
  } satisfies UdpRelay
})

/**
 * A `candidate:` line (no `a=`) on 127.0.0.1 over UDP with its port replaced by the relay's proxy;
 * undefined for any other candidate (werift also offers the host's other interfaces): the relay
 * must be the only path.
 */
const rewriteLine = (relay: UdpRelay, line: string): Effect.Effect<string | undefined> => {
  const fields = line.split(" ")
  if (fields.length < 8 || fields[4] !== HOST || fields[2]?.toLowerCase() !== "udp") return Effect.succeed(undefined)
  return Effect.map(relay.proxyFor(Number(fields[5])), (proxy) => {
    fields[5] = String(proxy)
    return fields.join(" ")
  })
}

/** Every `a=candidate:` line of an SDP rewritten, or left out. */
const rewriteSdp = (relay: UdpRelay, sdp: string): Effect.Effect<string> =>
  Effect.map(
    Effect.forEach(sdp.split("\r\n"), (line) =>
      line.startsWith("a=candidate:")
        ? Effect.map(rewriteLine(relay, line.slice(2)), (l) => (l === undefined ? [] : [`a=${l}`]))
        : Effect.succeed([line])),
    (lines) => lines.flat().join("\r\n")
  )

/**
 * Signaling whose outgoing candidates (trickled and in SDPs) name the relay's proxies. It is the
 * sender's own signaling: what it signs already carries the rewritten addresses.
 */
export const tap = (relay: UdpRelay): Layer.Layer<Signaling, never, Signaling> =>
  wrapSend((send) => (to, type, payload, correlationId) =>
    Effect.gen(function*() {
      const p = payload as Record<string, unknown>
      let rewritten: Record<string, unknown> = p
      if ((type === "OFFER" || type === "ANSWER") && typeof p["sdp"] === "string") {
        rewritten = { ...p, sdp: yield* rewriteSdp(relay, p["sdp"]) }
      } else if (type === "ICE_CANDIDATE" && typeof p["candidate"] === "string" && p["candidate"] !== "") {
        const candidate = yield* rewriteLine(relay, p["candidate"])
        if (candidate === undefined) return "not sent: not on the relay"
        rewritten = { ...p, candidate }
      }
      return yield* send(to, type, rewritten as typeof payload, correlationId)
    })
  )
