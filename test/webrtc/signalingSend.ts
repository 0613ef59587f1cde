/**
 * A test's own Signaling around the one it is given, with `send` changed (to rewrite or count
 * what goes out); everything else is the inner Signaling's.
 */
import { Effect, Layer } from "effect"
import { Signaling } from "../../src/client/Signaling.ts"

type Send = Signaling["Service"]["send"]

/** Signaling whose `send` is `wrap` of the inner one. */
export const wrapSend = (wrap: (send: Send) => Send): Layer.Layer<Signaling, never, Signaling> =>
  Layer.effect(
    Signaling,
    Effect.gen(function*() {
      const inner = yield* Signaling
      return Signaling.of({ ...inner, send: wrap(inner.send) })
    })
  )
