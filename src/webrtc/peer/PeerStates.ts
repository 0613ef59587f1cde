/**
 * The lifecycles of a peer connection as state machines (W3C WebRTC): the connection state, the
 * ICE connection state and the signaling state; and those states as schemas.
 *
 * @since 0.1.0
 */
import { Schema } from "effect"
import type { Machine } from "../../machine/StateMachine.ts"

// ---------------------------------------------------------------------------
// The W3C states, as schemas
// ---------------------------------------------------------------------------

/** `RTCPeerConnectionState`. */
export const ConnectionState = Schema.Literals(["new", "connecting", "connected", "disconnected", "failed", "closed"])

/** `RTCPeerConnectionState`. */
export type ConnectionState = typeof ConnectionState.Type

/** `RTCIceConnectionState`. */
export const IceConnectionState = Schema.Literals([
  "new",
  "checking",
  "connected",
  "completed",
  "failed",
  "disconnected",
  "closed"
])

/** `RTCIceConnectionState`. */
export type IceConnectionState = typeof IceConnectionState.Type

/** The `RTCSignalingState`s IoAP passes through (no provisional answers). */
export const SignalingState = Schema.Literals(["stable", "have-local-offer", "have-remote-offer"])

/** The `RTCSignalingState`s IoAP passes through (no provisional answers). */
export type SignalingState = typeof SignalingState.Type

// ---------------------------------------------------------------------------
// Connection state (RTCPeerConnectionState): events are the states the stack reports.
// ---------------------------------------------------------------------------

/** Reported connection states; `closed` is also what `close()` does. */
export type ConnectionEvent = Exclude<ConnectionState, "new">

/** RTCPeerConnectionState. `closed` is final; ICE restart may take `failed` back to `connecting`. */
export const connection: Machine<ConnectionState, ConnectionEvent> = {
  name: "connection",
  initial: "new",
  states: ["new", "connecting", "connected", "disconnected", "failed", "closed"],
  events: ["connecting", "connected", "disconnected", "failed", "closed"],
  table: {
    new: { connecting: "connecting", connected: "connected", failed: "failed", closed: "closed" },
    connecting: { connecting: "connecting", connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    connected: { connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    disconnected: { connecting: "connecting", connected: "connected", disconnected: "disconnected", failed: "failed", closed: "closed" },
    failed: { connecting: "connecting", failed: "failed", closed: "closed" },
    // Stacks report "closed" again after close(): the same state, nothing more.
    closed: { closed: "closed" }
  }
}

// ---------------------------------------------------------------------------
// ICE connection state (RTCIceConnectionState)
// ---------------------------------------------------------------------------

/** Reported ICE connection states. */
export type IceEvent = Exclude<IceConnectionState, "new">

/** RTCIceConnectionState. `closed` is final; an ICE restart goes back to `checking`. */
export const ice: Machine<IceConnectionState, IceEvent> = {
  name: "ice",
  initial: "new",
  states: ["new", "checking", "connected", "completed", "failed", "disconnected", "closed"],
  events: ["checking", "connected", "completed", "failed", "disconnected", "closed"],
  table: {
    new: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", closed: "closed" },
    checking: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    connected: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    completed: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    failed: { checking: "checking", failed: "failed", closed: "closed" },
    disconnected: { checking: "checking", connected: "connected", completed: "completed", failed: "failed", disconnected: "disconnected", closed: "closed" },
    closed: { closed: "closed" }
  }
}

// ---------------------------------------------------------------------------
// Signaling state (RTCSignalingState): events are our operations.
// ---------------------------------------------------------------------------

/** Signaling states, plus `closed` once the connection is closed. */
export type SignalingMachineState = "stable" | "have-local-offer" | "have-remote-offer" | "closed"

/** Operations that move the signaling state. */
export type SignalingEvent =
  | "setLocalOffer"
  | "setRemoteOffer"
  | "setLocalAnswer"
  | "setRemoteAnswer"
  | "rollback"
  | "close"

/** RTCSignalingState. One offer at a time: a second offer while one is pending is refused. */
export const signaling: Machine<SignalingMachineState, SignalingEvent> = {
  name: "signaling",
  initial: "stable",
  states: ["stable", "have-local-offer", "have-remote-offer", "closed"],
  events: ["setLocalOffer", "setRemoteOffer", "setLocalAnswer", "setRemoteAnswer", "rollback", "close"],
  table: {
    stable: { setLocalOffer: "have-local-offer", setRemoteOffer: "have-remote-offer", close: "closed" },
    "have-local-offer": { setRemoteAnswer: "stable", rollback: "stable", close: "closed" },
    "have-remote-offer": { setLocalAnswer: "stable", rollback: "stable", close: "closed" },
    closed: {}
  }
}
