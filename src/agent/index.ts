/**
 * `aiconexus/agent`: the Agent (register, discover, open sessions, call and serve capabilities),
 * exported by name: `Agent`, `RequestFailed`, `PeerSession`, … (the other rooms export each module
 * as a namespace; this room is one module).
 *
 * @since 0.1.0
 */
export * from "./Agent.ts"
