/**
 * A WebSocket constructor for Node.js on the `ws` package (Node-only). Unlike Node's built-in
 * WebSocket, whose error events carry no detail, its errors say why a connection failed
 * (ECONNREFUSED, an HTTP status, a TLS or DNS error), which `GatewayClient` passes on.
 *
 * @since 0.1.0
 */
import { Layer } from "effect"
import * as Socket from "effect/socket/Socket"
import WebSocket from "ws"

/** `Socket.WebSocketConstructor` on `ws`. */
export const layerWebSocketConstructor: Layer.Layer<Socket.WebSocketConstructor> = Layer.succeed(Socket.WebSocketConstructor)(
  (url, options) => {
    const protocols = options === undefined || typeof options === "string" || Array.isArray(options) ? options : options.protocols
    const headers = options !== undefined && typeof options === "object" && !Array.isArray(options) ? options.headers : undefined
    return new WebSocket(url, protocols, headers === undefined ? {} : { headers }) as unknown as globalThis.WebSocket
  }
)
