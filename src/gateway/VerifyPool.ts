/**
 * Ed25519 signature checks on worker threads, so a gateway node's relay uses more than one core.
 *
 * Verifications wait in one queue and go out in batches (one `postMessage` each way, the items
 * packed into one transferred buffer): at the end of each turn of the event loop, and whenever a
 * thread answers, every thread with fewer than `IN_FLIGHT` batches out gets its share of the
 * queue, at most `MAX_BATCH` items. Under load the batches fill up instead of the messages
 * between threads multiplying, and no thread waits while another holds a long queue. When every
 * thread has all it can take, the main thread checks queued items itself at the end of a turn
 * (for at most `IN_PLACE_MS` at a time), so it is never idle while checks wait. Results come back in batches, in the order each thread got them;
 * every item's receiver is called exactly once, never synchronously from `verify`. Callers that
 * need an order across threads (a session's frames) keep it themselves.
 *
 * What is queued is bounded by the callers: a session holds at most a fixed number of frames
 * awaiting their check and stops reading its socket past it (`Session`), so the pool holds at
 * most that many items per session.
 *
 * When to use the threads (`Offload`): a check handed to a thread costs more CPU in all than one
 * made in place (on a 2-core machine about 30 µs more for a check alone, 10–20 µs in batches; the
 * "VerifyPool" lines of `npm run bench -- gateway`), so by default ("busy") callers verify on the main thread until it is busy: the pool
 * looks at the event loop's utilization every `SAMPLE_MS`, offloads once it is over `BUSY`, and
 * stops once the main thread would be under `QUIET` doing the threads' checks itself. "always"
 * sends every check to the threads.
 *
 * If a thread fails, its outstanding items are verified on the main thread and it is not used
 * again. The threads end with the Layer's scope; idle, they do not keep the process alive.
 *
 * Node-only (node:worker_threads, node:os).
 *
 * @since 0.1.0
 */
import * as NodeCrypto from "node:crypto"
import { availableParallelism } from "node:os"
import { performance } from "node:perf_hooks"
import { Worker } from "node:worker_threads"
import { Context, Effect, Layer } from "effect"
import * as NodeEd25519 from "../protocol/NodeEd25519.ts"

/** Whoever waits for the result of one verification. */
export interface Verified {
  readonly verified: (valid: boolean) => void
}

/** Batches a thread holds unanswered, at most: one it works on, and the next, so it never waits for work. */
export const IN_FLIGHT = 2

/** Items in one batch, at most (about 1.4 ms of checks): the queue is shared out among the threads in batches this small. */
export const MAX_BATCH = 16

/** When checks go to the threads: once the main thread is busy, or always. */
export type Offload = "busy" | "always"

/** How often the pool looks at the event loop's utilization ("busy"), in ms. */
export const SAMPLE_MS = 100
/** Utilization of the event loop above which checks go to the threads. */
export const BUSY = 0.9
/** Estimated utilization, with the threads' checks made on the main thread, below which they come back to it. */
export const QUIET = 0.8

/** How long the main thread checks queued items itself at a turn's end, when every thread has all it can take (ms). */
export const IN_PLACE_MS = 1

/** Items behind the queue's head (sent or checked) before the queue is cut short, at least. */
const MIN_COMPACT = 64

/** Threads a pool has at most. */
export const MAX_SIZE = 64

/** The pool's size when the configuration does not say: one thread per core, none on a single core. */
export const defaultSize = (): number => {
  const cores = availableParallelism()
  return cores <= 1 ? 0 : Math.min(cores, MAX_SIZE)
}

/** Ed25519 verifications on worker threads. */
export class VerifyPool extends Context.Service<VerifyPool, {
  /** Worker threads in the pool (0: every check runs on the main thread). */
  readonly size: number
  /** Threads still running (0 once the pool's scope closed). */
  readonly running: () => number
  /** Whether checks should go to the threads now; when not, callers verify on their own thread (as cheaper). */
  readonly offloading: () => boolean
  /** Queues one verification; `receiver.verified` gets the result later. */
  readonly verify: (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array, receiver: Verified) => void
}>()("aiconexus/gateway/VerifyPool") {
  /** A pool of `size` threads (`defaultSize()` when undefined) for the Layer's scope. */
  static readonly layer = (size: number | undefined, offload: Offload = "busy"): Layer.Layer<VerifyPool> =>
    Layer.effect(VerifyPool, make(size ?? defaultSize(), offload))
}

interface Item {
  readonly publicKey: Uint8Array
  readonly signature: Uint8Array
  readonly data: Uint8Array
  readonly receiver: Verified
  /** Its result, when this thread checked it (`flush`). */
  valid: boolean
}

/** What one check made in place costs on this machine, in µs (a few checks of a 512-byte message at start). */
const inPlaceCostUs = (): number => {
  const { privateKey, publicKey } = NodeCrypto.generateKeyPairSync("ed25519")
  const data = new Uint8Array(512)
  const signature = NodeCrypto.sign(null, data, privateKey)
  NodeCrypto.verify(null, data, publicKey, signature)
  const start = performance.now()
  for (let i = 0; i < 8; i++) NodeCrypto.verify(null, data, publicKey, signature)
  return ((performance.now() - start) * 1000) / 8
}

const workerUrl = new URL(import.meta.url.endsWith(".ts") ? "./VerifyWorker.ts" : "./VerifyWorker.js", import.meta.url)

const pack = (items: ReadonlyArray<Item>): ArrayBuffer => {
  let bytes = 0
  for (const item of items) bytes += 100 + item.data.length
  const buffer = new ArrayBuffer(bytes)
  const view = new DataView(buffer)
  const out = new Uint8Array(buffer)
  let at = 0
  for (const { data, publicKey, signature } of items) {
    view.setUint32(at, data.length, true)
    out.set(publicKey, at + 4)
    out.set(signature, at + 36)
    out.set(data, at + 100)
    at += 100 + data.length
  }
  return buffer
}

/** One worker thread and the batches it holds. */
class Thread {
  readonly worker: Worker
  /** Batches sent and not yet answered, oldest first. */
  readonly sent: Array<Array<Item>> = []
  /** Given work: not failed, not stopped. */
  alive = true
  /** Its thread ended (the worker's `exit` event). */
  exited = false

  constructor(worker: Worker) {
    this.worker = worker
  }

  send(items: Array<Item>): void {
    // Held while it has work, so a process waiting for its answers does not exit.
    if (this.sent.length === 0) this.worker.ref()
    this.sent.push(items)
    const buffer = pack(items)
    this.worker.postMessage({ buffer, count: items.length }, [buffer])
  }

  /** The oldest batch's items, answered by `results`. */
  answered(): Array<Item> | undefined {
    const items = this.sent.shift()
    if (this.sent.length === 0) this.worker.unref()
    return items
  }
}

/** A pool of `size` threads until the scope closes (`size` 0: checks on the main thread, for callers that ask anyway). */
export const make = Effect.fnUntraced(function*(size: number, offload: Offload = "always") {
  const fallback = NodeEd25519.make().verifySync!
  const inThread = (items: ReadonlyArray<Item>) => {
    for (const { data, publicKey, receiver, signature } of items) receiver.verified(fallback(publicKey, signature, data))
  }
  const threads: Array<Thread> = []
  /** Items not yet sent to a thread, oldest first (from `head`). */
  let queue: Array<Item> = []
  let head = 0
  let flushScheduled = false
  let closed = false
  let offloading = offload === "always"
  /** Checks the threads answered since the last sample. */
  let answeredSince = 0

  /**
   * Lets go of the items before `head` (sent or checked): under a steady load the queue may never
   * run empty, and items it kept would keep their frames (and what their receivers hold) alive,
   * to be copied and promoted by the garbage collector and marked again and again. Taken items'
   * slots are cleared as they go; the array itself is cut once at least half of it is behind `head`.
   */
  const compact = () => {
    if (head === queue.length) {
      queue = []
      head = 0
    } else if (head >= MIN_COMPACT && head * 2 >= queue.length) {
      queue = queue.slice(head)
      head = 0
    }
  }

  /** Hands queued items to the threads that have room, in batches that share the queue out among them. */
  const dispatch = () => {
    let waiting = queue.length - head
    while (waiting > 0) {
      const open = threads.filter((thread) => thread.alive && thread.sent.length < IN_FLIGHT)
      if (open.length === 0) break
      for (let i = 0; i < open.length && waiting > 0; i++) {
        const count = Math.min(MAX_BATCH, Math.ceil(waiting / (open.length - i)))
        open[i]!.send(queue.slice(head, head + count))
        queue.fill(undefined as never, head, head + count)
        head += count
        waiting -= count
      }
    }
    compact()
  }

  const flush = () => {
    flushScheduled = false
    dispatch()
    if (queue.length === head) return
    // Every thread has all it can take: this thread checks some of the rest itself, for at most
    // `IN_PLACE_MS`, then lets I/O in. It only gets here when nothing else was waiting for it
    // (a turn's end), so a busy main thread gives nothing up, and threads slowed by a loaded
    // machine do not leave it idle.
    const until = performance.now() + IN_PLACE_MS
    const done: Array<Item> = []
    while (head < queue.length && performance.now() < until) {
      const item = queue[head]!
      queue[head++] = undefined as never
      done.push(item)
      item.valid = fallback(item.publicKey, item.signature, item.data)
    }
    const more = queue.length > head
    compact()
    if (more) {
      flushScheduled = true
      setImmediate(flush)
    }
    for (const item of done) item.receiver.verified(item.valid)
  }

  /** A thread stopped without being asked: what it held is checked here, and it gets nothing more. */
  const lost = (thread: Thread, cause: unknown) => {
    if (!thread.alive) return
    thread.alive = false
    if (!closed) Effect.runFork(Effect.logError("gateway verify thread stopped; its checks run on the main thread", cause))
    const items = thread.sent.flat()
    thread.sent.length = 0
    if (threads.every((other) => !other.alive)) {
      offloading = false
      items.push(...queue.slice(head))
      queue = []
      head = 0
    }
    if (!closed) inThread(items)
  }

  const start = () => {
    const worker = new Worker(workerUrl, { name: "aiconexus-verify" })
    const thread = new Thread(worker)
    worker.on("message", (results: Uint8Array) => {
      const items = thread.answered()
      if (items === undefined) return
      answeredSince += items.length
      // The thread gets its next batch before this one's receivers run.
      dispatch()
      for (let i = 0; i < items.length; i++) items[i]!.receiver.verified(results[i] === 1)
    })
    worker.on("error", (error) => lost(thread, error))
    worker.on("exit", (code) => {
      thread.exited = true
      lost(thread, new Error(`exited with code ${code}`))
    })
    // Sessions and the server keep a gateway's process alive, not its idle threads.
    worker.unref()
    threads.push(thread)
  }

  /** Decides from the last `SAMPLE_MS` of the event loop whether to offload ("busy"). */
  const sampler = (inPlaceUs: number) => {
    let last = performance.eventLoopUtilization()
    return setInterval(() => {
      const now = performance.eventLoopUtilization()
      const { active, idle, utilization } = performance.eventLoopUtilization(now, last)
      last = now
      if (threads.every((thread) => !thread.alive)) offloading = false
      else if (!offloading) offloading = utilization > BUSY
      else offloading = utilization + (answeredSince * inPlaceUs) / 1000 / Math.max(active + idle, 1) >= QUIET
      answeredSince = 0
    }, SAMPLE_MS).unref()
  }

  yield* Effect.acquireRelease(
    Effect.sync(() => {
      for (let i = 0; i < Math.min(size, MAX_SIZE); i++) start()
      return threads.length > 0 && offload === "busy" ? sampler(inPlaceCostUs()) : undefined
    }),
    (timer) =>
      Effect.promise(() => {
        clearInterval(timer)
        closed = true
        return Promise.all(threads.map((thread) => {
          thread.alive = false
          return thread.worker.terminate()
        }))
      })
  )

  const verify = (publicKey: Uint8Array, signature: Uint8Array, data: Uint8Array, receiver: Verified): void => {
    const item: Item = { publicKey, signature, data, receiver, valid: false }
    if (closed || threads.every((thread) => !thread.alive)) {
      // No thread (size 0, or all failed or stopped): on this thread, still never synchronously.
      queueMicrotask(() => inThread([item]))
      return
    }
    queue.push(item)
    if (!flushScheduled) {
      flushScheduled = true
      setImmediate(flush)
    }
  }

  return VerifyPool.of({
    size: threads.length,
    running: () => threads.filter((thread) => !thread.exited).length,
    offloading: () => offloading,
    verify
  })
})
