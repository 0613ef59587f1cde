/**
 * Ed25519 verification paths available in Node 24, measured on the signing bytes of the OFFER
 * envelope the gateway benchmark relays: node:crypto one-shot (cached KeyObject, or a key
 * imported per call), node:crypto's callback form (libuv thread pool), WebCrypto, @noble/curves,
 * and the project's own `Envelope.verify` / `Accept.accept` on node:crypto; then a gateway's
 * relay check with more active senders than its memos hold, with the key of `from` decoded from
 * the DID (its curve point checked) or the key a session holds for its registered DID.
 */
import * as NodeCrypto from "node:crypto"
import { readFileSync } from "node:fs"
import { ed25519 } from "@noble/curves/ed25519.js"
import { base64urlnopad } from "@scure/base"
import { Effect, Exit, Redacted, Result, Scope } from "effect"
import * as VerifyPool from "../../src/gateway/VerifyPool.ts"
import * as Accept from "../../src/protocol/Accept.ts"
import * as Did from "../../src/protocol/Did.ts"
import * as Envelope from "../../src/protocol/Envelope.ts"
import * as Identity from "../../src/protocol/Identity.ts"
import * as NodeEd25519 from "../../src/protocol/NodeEd25519.ts"
import * as ReplayGuard from "../../src/protocol/ReplayGuard.ts"
import { offerDraft } from "./common.ts"

const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const PKCS8_PREFIX = Buffer.from("302e020100300506032b657004220420", "hex")

/** Wall, process-CPU and main-thread-CPU microseconds per operation. */
export interface Cost {
  readonly name: string
  readonly wallUs: number
  readonly cpuUs: number
  readonly mainUs: number
}

/** CPU time of this process's main thread in µs (/proc, 10 ms ticks: measure for ~1 s). */
const mainThreadUs = (): number => {
  const stat = readFileSync(`/proc/self/task/${process.pid}/stat`, "utf8")
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 1e4
}

const BATCH = 100

const timeSync = (name: string, batch: () => void, ms: number): Cost => {
  for (let i = 0; i < 5; i++) batch()
  let ops = 0
  const cpu0 = process.cpuUsage()
  const main0 = mainThreadUs()
  const start = performance.now()
  while (performance.now() - start < ms) {
    batch()
    ops += BATCH
  }
  const wall = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { name, wallUs: (wall * 1000) / ops, cpuUs: (cpu.user + cpu.system) / ops, mainUs: (mainThreadUs() - main0) / ops }
}

/** `inflight` operations kept running at once. */
const timeAsync = async (name: string, operation: () => Promise<unknown>, inflight: number, ms: number): Promise<Cost> => {
  for (let i = 0; i < 200; i++) await operation()
  let ops = 0
  const cpu0 = process.cpuUsage()
  const main0 = mainThreadUs()
  const start = performance.now()
  const end = start + ms
  const worker = async () => {
    while (performance.now() < end) {
      await operation()
      ops++
    }
  }
  await Promise.all(Array.from({ length: inflight }, worker))
  const wall = performance.now() - start
  const cpu = process.cpuUsage(cpu0)
  return { name, wallUs: (wall * 1000) / ops, cpuUs: (cpu.user + cpu.system) / ops, mainUs: (mainThreadUs() - main0) / ops }
}

/** Measures every path; the first result is the reference (node:crypto one-shot, cached key). */
export const measure = async (ms = 1000) => {
  const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runSync(Effect.provide(effect, NodeEd25519.layer))
  const sender = run(Identity.generate)
  const receiver = run(Identity.generate)
  const offer = run(Envelope.make(sender, offerDraft(sender, receiver.did)))
  const frame = Envelope.encode(offer)
  const data = Envelope.signingBytes(offer)
  const signature = base64urlnopad.decode(offer.signature)
  const spki = Buffer.concat([SPKI_PREFIX, sender.publicKey])
  const publicKey = NodeCrypto.createPublicKey({ key: spki, format: "der", type: "spki" })
  const privateKey = NodeCrypto.createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, Redacted.value(sender.seed)]), format: "der", type: "pkcs8" })
  const subtle = globalThis.crypto.subtle
  const cryptoKey = await subtle.importKey("raw", sender.publicKey as Uint8Array<ArrayBuffer>, { name: "Ed25519" }, false, ["verify"])
  const ok = (valid: boolean) => {
    if (!valid) throw new Error("the benchmark signature did not verify")
  }
  const sync = (operation: () => boolean) => () => {
    for (let i = 0; i < BATCH; i++) ok(operation())
  }
  const effects = (operation: () => Effect.Effect<unknown, unknown>) => () =>
    run(Effect.gen(function*() {
      for (let i = 0; i < BATCH; i++) yield* operation()
    }))
  const acceptContext = (): Accept.AcceptContext => ({
    maxFrameBytes: 65536,
    refuseType: () => undefined,
    checkTo: () => Effect.succeed(true),
    replay: ReplayGuard.make()
  })
  const verifyAsync = () =>
    new Promise<void>((resolve, reject) =>
      NodeCrypto.verify(null, data, publicKey, signature, (error, valid) => (error ? reject(error) : (ok(valid), resolve())))
    )

  const costs: Array<Cost> = [
    timeSync("node:crypto verify(null, data, KeyObject, sig), cached key", sync(() => NodeCrypto.verify(null, data, publicKey, signature)), ms),
    timeSync("node:crypto verify, key imported from SPKI DER per call", sync(() =>
      NodeCrypto.verify(null, data, NodeCrypto.createPublicKey({ key: spki, format: "der", type: "spki" }), signature)), ms),
    await timeAsync("node:crypto verify(..., callback): thread pool, 64 in flight", verifyAsync, 64, ms),
    await timeAsync("WebCrypto subtle.verify, one at a time", () =>
      subtle.verify("Ed25519", cryptoKey, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>).then(ok), 1, ms),
    await timeAsync("WebCrypto subtle.verify, 64 in flight", () =>
      subtle.verify("Ed25519", cryptoKey, signature as Uint8Array<ArrayBuffer>, data as Uint8Array<ArrayBuffer>).then(ok), 64, ms),
    timeSync("@noble/curves ed25519.verify (pure JS)", sync(() => ed25519.verify(signature, data, sender.publicKey)), ms),
    timeSync("node:crypto sign (for reference)", () => {
      for (let i = 0; i < BATCH; i++) NodeCrypto.sign(null, data, privateKey)
    }, ms),
    timeSync("Envelope.signingBytes (JCS + UTF-8), no crypto", () => {
      for (let i = 0; i < BATCH; i++) Envelope.signingBytes(offer)
    }, ms),
    timeSync("Envelope.verify on NodeEd25519 (project path)", effects(() => Envelope.verify(offer)), ms),
    timeSync("Accept.accept on NodeEd25519 (all 11 steps)", effects(() => Accept.accept(frame, acceptContext())), ms),
    ...manySenders(run, receiver, ms),
    ...(await pooled(sender.publicKey, signature, data, ms))
  ]
  return { frameBytes: frame.length, signedBytes: data.length, costs }
}

/**
 * The gateway's `VerifyPool` (its default size here), `perTurn` verifications asked per turn of the
 * event loop, the next turn once all are answered: CPU of every thread per verification, and of
 * the main thread alone (what relaying has left to do there).
 */
const pooled = async (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array, ms: number): Promise<Array<Cost>> => {
  const scope = Effect.runSync(Scope.make())
  try {
    const pool = await Effect.runPromise(Scope.provide(VerifyPool.make(VerifyPool.defaultSize()), scope))
    if (pool.size === 0) return []
    const costs: Array<Cost> = []
    for (const perTurn of [1, 8, 64]) {
      const turn = () =>
        new Promise<void>((resolve, reject) => {
          let left = perTurn
          const receiver = {
            verified: (valid: boolean) => {
              if (!valid) reject(new Error("the benchmark signature did not verify"))
              else if (--left === 0) resolve()
            }
          }
          for (let i = 0; i < perTurn; i++) pool.verify(publicKey, signature, data, receiver)
        })
      for (let i = 0; i < 20; i++) await turn()
      let ops = 0
      const cpu0 = process.cpuUsage()
      const main0 = mainThreadUs()
      const start = performance.now()
      while (performance.now() - start < ms) {
        await turn()
        ops += perTurn
      }
      const wall = performance.now() - start
      const cpu = process.cpuUsage(cpu0)
      costs.push({
        name: `VerifyPool (${pool.size} threads), ${perTurn} per turn`,
        wallUs: (wall * 1000) / ops,
        cpuUs: (cpu.user + cpu.system) / ops,
        mainUs: (mainThreadUs() - main0) / ops
      })
    }
    return costs
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

/** More senders than the DID memos (16,384) and the key memo (4,096) hold, each seen in turn. */
const MANY_SENDERS = 20_000

const manySenders = (
  run: <A, E>(effect: Effect.Effect<A, E>) => A,
  receiver: Identity.Identity,
  ms: number
): Array<Cost> => {
  const offers = Array.from({ length: MANY_SENDERS }, () => {
    const sender = run(Identity.generate)
    return run(Envelope.make(sender, offerDraft(sender, receiver.did)))
  })
  const verifyOne = (withSessionKey: boolean) => {
    const ed25519 = NodeEd25519.make()
    let next = 0
    return () => {
      for (let i = 0; i < BATCH; i++) {
        const offer = offers[next++ % offers.length]!
        // What a gateway session holds: its registered DID, checked in full once, decoded again.
        const key = withSessionKey ? Result.getOrUndefined(Did.decodeSyntax(offer.from)) : undefined
        if (!Envelope.verifyWith(offer, ed25519.verifySync!, key)) throw new Error("the benchmark signature did not verify")
      }
    }
  }
  return [
    timeSync(`relay check, ${MANY_SENDERS} senders in turn: key from the DID (point checked)`, verifyOne(false), ms),
    timeSync(`relay check, ${MANY_SENDERS} senders in turn: the session's key (gateway path)`, verifyOne(true), ms)
  ]
}
