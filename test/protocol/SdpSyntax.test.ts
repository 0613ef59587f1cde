import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { isConnectionAddress, isIPv4, isIPv6 } from "../../src/protocol/SdpSyntax.ts"

describe("addresses", () => {
  it("accept what fast-check generates as IPv4, IPv6 and domain names", () => {
    fc.assert(fc.property(fc.ipV4(), (a) => isIPv4(a) && isConnectionAddress(a)), { numRuns: 500 })
    fc.assert(fc.property(fc.ipV6(), (a) => isIPv6(a) && isConnectionAddress(a)), { numRuns: 500 })
    fc.assert(fc.property(fc.domain(), isConnectionAddress), { numRuns: 500 })
  })

  it("reject malformed addresses", () => {
    for (
      const address of [
        "",
        "1.2.3",
        "1.2.3.4.5",
        "01.2.3.4",
        "256.1.1.1",
        "1:2:3:4:5:6:7",
        "1:2:3:4:5:6:7:8:9",
        "1::2::3",
        "::1:2:3:4:5:6:7:8",
        "1.2.3.4::",
        "fe80::1%eth0",
        "[::1]",
        "12345::",
        "-host.local",
        "host_name.local",
        "a.123",
        "a..b",
        `${"a".repeat(64)}.local`
      ]
    ) {
      assert.isFalse(isConnectionAddress(address), address)
    }
  })
})
