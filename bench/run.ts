/**
 * `npm run bench [-- NAME...]`: runs the named benchmarks (all when none is named).
 */
import * as Browser from "./browser.ts"
import * as Cli from "./cli.ts"
import * as Gateway from "./gateway.ts"
import * as Nat from "./nat.ts"
import * as Hostile from "./hostile.ts"
import * as Protocol from "./protocol.ts"
import * as Scale from "./scale.ts"
import * as WebRtc from "./webrtc.ts"

const benchmarks: Record<string, () => Promise<void>> = {
  protocol: Protocol.main,
  gateway: Gateway.main,
  webrtc: WebRtc.main,
  browser: Browser.main,
  nat: Nat.main,
  cli: Cli.main,
  hostile: Hostile.main,
  scale: Scale.main
}

const names = process.argv.slice(2)
for (const name of names.length === 0 ? Object.keys(benchmarks) : names) {
  const bench = benchmarks[name]
  if (bench === undefined) {
    console.error(`unknown benchmark ${name}; known: ${Object.keys(benchmarks).join(", ")}`)
    process.exit(2)
  }
  await bench()
}
// Native WebRTC threads and sockets of the benchmarks are closed; exit without waiting for stragglers.
process.exit(0)
