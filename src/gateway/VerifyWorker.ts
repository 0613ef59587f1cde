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

/** The key at `at` in `bytes`: looked up by its bytes as a string (no view of it made unless it is imported). */
const keyOf = (bytes: Buffer, at: number): NodeCrypto.KeyObject | null => {
  const id = bytes.toString("latin1", at, at + 32)
  const cached = keys.get(id)
  if (cached !== undefined) return cached
  let key: NodeCrypto.KeyObject | null = null
  try {
    key = NodeCrypto.createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes.subarray(at, at + 32)]), format: "der", type: "spki" })
  } catch {
    key = null
  }
  keys.set(id, key)
  return key
}

const verifyBatch = ({ buffer, count }: Batch): Uint8Array => {
  const bytes = Buffer.from(buffer)
  const lengths = new DataView(buffer)
  const results = new Uint8Array(new ArrayBuffer(count))
  let at = 0
  for (let i = 0; i < count; i++) {
    const length = lengths.getUint32(at, true)
    const key = keyOf(bytes, at + 4)
    // Plain views of the batch (a Buffer's subarray costs more to make).
    const signature = new Uint8Array(buffer, at + 36, 64)
    const data = new Uint8Array(buffer, at + 100, length)
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
