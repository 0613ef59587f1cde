/**
 * The PeerJS signaling server (`peer` package) in a process of its own, for
 * `npm run bench -- gateway`. Clients dial `/peerjs?key=peerjs&id=<id>&token=<t>`, get
 * `{"type":"OPEN"}`, and send `{"type":"OFFER","payload":…,"dst":<id>}`, which it relays as
 * `{"type","src","dst","payload"}`. Same stdin commands and `listening` line as server-gateway.ts.
 */
import type { AddressInfo } from "node:net"
import { PeerServer } from "peer"
import { collect, commands, emit } from "./common.ts"

PeerServer({ host: "127.0.0.1", port: 0, path: "/", concurrent_limit: 1_000_000, alive_timeout: 600_000 }, (server) => {
  const { port } = server.address() as AddressInfo
  emit({ event: "listening", url: `ws://127.0.0.1:${port}/peerjs` })
})

commands((line) => {
  if (line === "gc") {
    emit({ event: "gc", memory: collect() })
  } else if (line === "exit") {
    process.exit(0)
  }
})
