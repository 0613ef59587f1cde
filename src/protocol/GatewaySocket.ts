/**
 * The WebSocket between an agent and its gateway (PROTOCOL.md 4.1 and 4.3): the subprotocol both
 * ends speak and the close codes, shared by the gateway and its clients.
 *
 * @since 0.1.0
 */

/** The WebSocket subprotocol of IoAP v1: the client offers it, the gateway selects it. */
export const SUBPROTOCOL = "ioap.v1"

/** WebSocket close codes of PROTOCOL.md 4.3. */
export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  tooBig: 1009,
  protocolError: 4000,
  sessionReplaced: 4001,
  handshakeFailed: 4002,
  rateLimited: 4003,
  timeout: 4004
} as const
