/**
 * A link's `ioap` control channel across rebuilds of its peer connection (see `LinkRecovery`): the
 * bytes, whatever connection carries them; `EnvelopeChannel` puts signed envelopes on it.
 *
 * A link is a sequence of generations — a peer connection and its `ioap` channel — of which one is
 * current. The link's channel reads the messages of each generation in turn, into one Stream, and
 * sends on the current one. While the link recovers (its connection `disconnected` or `failed`), a
 * send waits for the outcome: the same connection working again (ICE restarted) sends it; a rebuilt
 * connection fails it with `ConnectionReestablished`, as does a send the old channel still held
 * when it was replaced. Liveness checks (`sendNow`) do not wait.
 *
 * @since 0.1.0
 */
import { Cause, Effect, Option, type Scope, Stream, SubscriptionRef } from "effect"
import * as DataChannel from "../peer/DataChannel.ts"
import type { PeerConnection } from "../peer/PeerConnection.ts"
import { ConnectionReestablished } from "./RecoveryEvents.ts"
import * as StateMachine from "../../machine/StateMachine.ts"

/** One peer connection of a link, with its control channel; its scope closes both. */
export interface Generation {
  /** 0 for the connection first negotiated, then 1, 2… for each rebuild. */
  readonly number: number
  readonly peer: PeerConnection
  readonly control: DataChannel.DataChannel
  readonly scope: Scope.Closeable
}

/** Why a send on a link's control channel failed. */
export type LinkSendError = DataChannel.ChannelClosed | DataChannel.MessageTooLarge | ConnectionReestablished

/** The control channel of a link: a data channel whose `send` may also fail `ConnectionReestablished`. */
export interface LinkChannel extends Omit<DataChannel.DataChannel, "send"> {
  readonly send: (message: DataChannel.Message) => Effect.Effect<void, LinkSendError>
  /**
   * Sends on the current connection at once, even while it recovers: for liveness checks, whose
   * answers tell that an ICE restart worked (with a rebuild they are simply lost).
   */
  readonly sendNow: (message: DataChannel.Message) => Effect.Effect<void, LinkSendError>
}

/** The channel over the generations of `current`; its messages end when the last generation's channel closes (ending the link closes it). */
export const make = (options: {
  readonly connectionId: string
  readonly current: SubscriptionRef.SubscriptionRef<Generation>
  /** Whether the link recovers (else it ends when its current connection's channel closes). */
  readonly recovery: boolean
  readonly ended: Effect.Effect<void>
}): Effect.Effect<LinkChannel, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { connectionId, current, recovery } = options
    const now = () => SubscriptionRef.getUnsafe(current)
    const first = now()
    let linkEnded = false
    yield* Effect.forkScoped(Effect.andThen(options.ended, Effect.sync(() => void (linkEnded = true))))

    // Each generation's messages, in turn, read straight from its channel (no queue and fiber in
    // between: that hop cost ~25 µs a message). A generation's channel ends when it closes; then
    // the link's channel ends too, unless a newer generation replaced it (the peer can rebuild the
    // connection even if this side does not start recoveries): its messages follow.
    const after = (generation: Generation): Stream.Stream<DataChannel.Message> =>
      Stream.unwrap(Effect.gen(function*() {
        if (linkEnded || (!recovery && now() === generation)) return Stream.empty
        const next = yield* Effect.raceFirst(
          StateMachine.until(current, (g) => g.number > generation.number),
          Effect.as(options.ended, Option.none<Generation>())
        )
        return Option.match(next, { onNone: () => Stream.empty, onSome: messagesOf })
      }))
    const messagesOf = (generation: Generation): Stream.Stream<DataChannel.Message> =>
      Stream.concat(generation.control.messages, after(generation))

    const replaced = (generation: Generation) => new ConnectionReestablished({ connectionId, label: generation.control.label })

    /** While the connection of `generation` is down: whether it came back, was replaced, or the link ended. */
    const outcome = (generation: Generation) =>
      Effect.raceAllFirst([
        Effect.as(generation.peer.connection.until((s) => s === "connected" || s === "closed"), "same" as const),
        Effect.as(StateMachine.until(current, (g) => g !== generation), "replaced" as const),
        Effect.as(options.ended, "ended" as const)
      ])

    // A send that failed `ChannelClosed` on a generation since replaced fails `ConnectionReestablished`.
    // The handler is made once per generation, not per message (each send's path, counted in the RTT).
    let failureGeneration: Generation | undefined
    let failureHandler: (cause: Cause.Cause<DataChannel.ChannelClosed | DataChannel.MessageTooLarge>) => Effect.Effect<never, LinkSendError>
    const onFailure = (generation: Generation) => {
      if (failureGeneration !== generation) {
        failureGeneration = generation
        failureHandler = (cause) =>
          Effect.failCause(
            now() === generation ? cause : Cause.map(cause, (error): LinkSendError => error._tag === "ChannelClosed" ? replaced(generation) : error)
          )
      }
      return failureHandler
    }
    const sendOn = (generation: Generation, message: DataChannel.Message): Effect.Effect<void, LinkSendError> =>
      Effect.catchCause(generation.control.send(message), onFailure(generation))

    /** A send while the connection of `generation` is down waits for the outcome of the recovery. */
    const sendAfterOutcome = (generation: Generation, message: DataChannel.Message): Effect.Effect<void, LinkSendError> =>
      Effect.flatMap(outcome(generation), (result) =>
        result === "replaced"
          ? Effect.fail(replaced(generation))
          : result === "ended"
          ? Effect.fail(new DataChannel.ChannelClosed({ label: generation.control.label }))
          : sendOn(generation, message))

    // Read synchronously: a send on a working connection goes straight to its channel.
    const send = (message: DataChannel.Message): Effect.Effect<void, LinkSendError> =>
      Effect.suspend(() => {
        const generation = now()
        const state = recovery ? generation.peer.connection.stateUnsafe() : undefined
        return state === "disconnected" || state === "failed" ? sendAfterOutcome(generation, message) : sendOn(generation, message)
      })

    return {
      label: first.control.label,
      protocol: first.control.protocol,
      ordered: first.control.ordered,
      maxRetransmits: first.control.maxRetransmits,
      maxPacketLifeTime: first.control.maxPacketLifeTime,
      negotiated: first.control.negotiated,
      id: () => now().control.id(),
      get state() {
        return now().control.state
      },
      bufferedAmount: () => now().control.bufferedAmount(),
      opened: Effect.suspend(() => now().control.opened),
      messages: messagesOf(first),
      send,
      sendNow: (message) => Effect.suspend(() => sendOn(now(), message)),
      close: Effect.suspend(() => now().control.close),
      stats: Effect.suspend(() => now().control.stats)
    } satisfies LinkChannel
  })
