/**
 * The lifecycle of one agent's session at the gateway (PROTOCOL.md 4.2 and 4.3) as a state
 * machine: CHALLENGE sent, awaiting REGISTER; registered; closing (the gateway sent its close);
 * ended (no more frames are handled, the session leaves the directory).
 *
 * The session holds its state in a field and applies an event with `StateMachine.transition`, a
 * table lookup: nothing is allocated per frame on the relay path.
 *
 * @since 0.1.0
 */
import type { Machine } from "../machine/StateMachine.ts"

/** Where a session is in its lifecycle. */
export type Phase = "awaitingRegister" | "registered" | "closing" | "ended"

/**
 * What happens to a session: its REGISTER is accepted (`register`), the gateway closes its socket
 * with a close code (`close`), the session ends: its socket closed, or it closed itself and is
 * done (`end`).
 */
export type Event = "register" | "close" | "end"

/** The session lifecycle. `ended` is final; ending again (the socket's close after the session's own) changes nothing. */
export const machine: Machine<Phase, Event> = {
  name: "gateway session",
  initial: "awaitingRegister",
  states: ["awaitingRegister", "registered", "closing", "ended"],
  events: ["register", "close", "end"],
  table: {
    awaitingRegister: { register: "registered", close: "closing", end: "ended" },
    registered: { close: "closing", end: "ended" },
    closing: { end: "ended" },
    ended: { end: "ended" }
  }
}

/** Whether a session in `phase` is open: it handles frames, and the gateway may still close it. */
export const isOpen = (phase: Phase): boolean => phase === "awaitingRegister" || phase === "registered"
