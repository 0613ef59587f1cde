/**
 * A thread of the gateway's `VerifyPool`: verifies batches of Ed25519 signatures with node:crypto.
 *
 * A batch is one transferred buffer of items, each `[u32 data length][32-byte key][64-byte
 * signature][data]`; the answer is one byte per item (1: valid), in the same order. Batches are
 * answered in the order they came. Keys are imported once and kept (as `NodeEd25519` does).
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { parentPort } from "node:worker_threads"
import { boundedMemo } from "../util/BoundedMemo.ts"

/** A batch from the pool. */
export interface Batch {
  readonly buffer: ArrayBuffer
  readonly count: number
}

// SubjectPublicKeyInfo wrapping of a raw Ed25519 key (RFC 8410).
const SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex")
const keys = boundedMemo<string, NodeCrypto.KeyObject | null>(4096)

const keyOf = (raw: Buffer): NodeCrypto.KeyObject | null => {
  const id = raw.toString("latin1")
  const cached = keys.get(id)
  if (cached !== undefined) return cached
  let key: NodeCrypto.KeyObject | null = null
  try {
    key = NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, raw]), format: "der", type: "spki" })
  } catch {
    key = null
  }
  keys.set(id, key)
  return key
}

const verifyBatch = ({ buffer, count }: Batch): Uint8Array => {
  const bytes = Buffer.from(buffer)
  const results = new Uint8Array(new ArrayBuffer(count))
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = bytes.readUInt32LE(at)
    const key = keyOf(bytes.subarray(at + 4, at + 36))
    const signature = bytes.subarray(at + 36, at + 100)
    const data = bytes.subarray(at + 100, at + 100 + length)
    at += 100 + length
    try {
      results[i] = key !== null && NodeCrypto.verify(null, data, key, signature) ? 1 : 0
    } catch {
      results[i] = 0
    }
  }
  return results
}

parentPort?.on("message", (batch: Batch) => {
  const results = verifyBatch(batch)
  parentPort!.postMessage(results, [results.buffer as ArrayBuffer])
})
