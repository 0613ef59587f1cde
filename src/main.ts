/**
 * `npm start`: the AIConexus gateway.
 */
console.error("AIConexus: the signaling gateway is not built yet; only the protocol core (src/protocol) exists.")
process.exitCode = 1
