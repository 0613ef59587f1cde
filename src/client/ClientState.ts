/**
 * The connection lifecycle of a `GatewayClient` as a state machine (its states are the `_tag`s of
 * `GatewayClient.ClientState`, which carry each state's data).
 *
 * A client connects, registers, and when the connection drops or the registration is refused it
 * reconnects and registers again, until it stops for good: closed by its owner or by a fatal error
 * (an insecure URL, another gateway identity, its DID registered elsewhere).
 *
 * @since 0.1.0
 */
import type { Machine } from "../machine/StateMachine.ts"

/** Where a client is in its lifecycle. */
export type Phase = "Disconnected" | "Connecting" | "Registered" | "Reconnecting" | "Closed"

/**
 * What happens to a client: it starts a connection (`connect`), the gateway accepts its
 * registration (`register`), the connection drops or the registration is refused (`drop`, it
 * will reconnect), a fatal error stops it (`fail`), its owner closes it (`close`).
 */
export type Event = "connect" | "register" | "drop" | "fail" | "close"

const table = {
  Disconnected: { connect: "Connecting", fail: "Closed", close: "Closed" },
  Connecting: { register: "Registered", drop: "Reconnecting", fail: "Closed", close: "Closed" },
  Registered: { drop: "Reconnecting", fail: "Closed", close: "Closed" },
  Reconnecting: { connect: "Connecting", fail: "Closed", close: "Closed" },
  // Closing a closed client changes nothing (the first reason it stopped stands); nothing else happens to it.
  Closed: { close: "Closed" }
} as const

/** The client lifecycle. `Closed` is final. */
export const machine: Machine<Phase, Event> = {
  name: "gateway client",
  initial: "Disconnected",
  states: ["Disconnected", "Connecting", "Registered", "Reconnecting", "Closed"],
  events: ["connect", "register", "drop", "fail", "close"],
  table
}

/** The phase `event` leads to, wherever it is allowed. */
export type Target<E extends Event> = {
  [P in Phase]: (typeof table)[P] extends { readonly [K in E]: infer T } ? T : never
}[Phase]
