import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result, Schema } from "effect"
import fc from "fast-check"
import {
  formatIceCandidate,
  IceCandidate,
  type IceCandidateFields,
  IceCandidateFields as IceCandidateFieldsSchema,
  normalizeCandidateLine,
  parseIceCandidate
} from "../../src/protocol/IceCandidate.ts"
import { failureMessage } from "./failureMessage.ts"

const decodeCandidate = Schema.decodeUnknownResult(IceCandidate)
const encodeCandidate = Schema.encodeUnknownResult(IceCandidate)

describe("IceCandidate", () => {
  const valid: ReadonlyArray<{
    readonly name: string
    readonly line: string
    readonly fields: IceCandidateFields
    readonly canonical?: string
  }> = [
    {
      name: "libdatachannel host (upper-case UDP)",
      line: "candidate:1 1 UDP 2122317823 192.168.1.10 54321 typ host",
      canonical: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ host",
      fields: {
        foundation: "1",
        component: 1,
        protocol: "udp",
        priority: 2122317823,
        address: "192.168.1.10",
        port: 54321,
        type: "host",
        extensions: []
      }
    },
    {
      name: "Chrome srflx with raddr/rport and extensions",
      line:
        "candidate:842163049 1 udp 1677729535 203.0.113.7 46154 typ srflx raddr 10.0.0.2 rport 46154 generation 0 ufrag EEtu network-cost 999",
      fields: {
        foundation: "842163049",
        component: 1,
        protocol: "udp",
        priority: 1677729535,
        address: "203.0.113.7",
        port: 46154,
        type: "srflx",
        relatedAddress: "10.0.0.2",
        relatedPort: 46154,
        extensions: [
          { name: "generation", value: "0" },
          { name: "ufrag", value: "EEtu" },
          { name: "network-cost", value: "999" }
        ]
      }
    },
    {
      name: "Firefox active TCP host",
      line: "candidate:3 1 TCP 2105524479 10.0.0.1 9 typ host tcptype active",
      canonical: "candidate:3 1 tcp 2105524479 10.0.0.1 9 typ host tcptype active",
      fields: {
        foundation: "3",
        component: 1,
        protocol: "tcp",
        priority: 2105524479,
        address: "10.0.0.1",
        port: 9,
        type: "host",
        tcpType: "active",
        extensions: []
      }
    },
    {
      name: "Chrome mDNS host",
      line: "candidate:1 1 udp 2113937151 4e5c1f3a-1234-4b5c-9d6e-0123456789ab.local 56789 typ host generation 0",
      fields: {
        foundation: "1",
        component: 1,
        protocol: "udp",
        priority: 2113937151,
        address: "4e5c1f3a-1234-4b5c-9d6e-0123456789ab.local",
        port: 56789,
        type: "host",
        extensions: [{ name: "generation", value: "0" }]
      }
    },
    {
      name: "Chrome relay with raddr/rport",
      line:
        "candidate:2157334355 1 udp 33562367 198.51.100.5 61234 typ relay raddr 203.0.113.7 rport 46154 generation 0 ufrag EEtu network-id 1",
      fields: {
        foundation: "2157334355",
        component: 1,
        protocol: "udp",
        priority: 33562367,
        address: "198.51.100.5",
        port: 61234,
        type: "relay",
        relatedAddress: "203.0.113.7",
        relatedPort: 46154,
        extensions: [
          { name: "generation", value: "0" },
          { name: "ufrag", value: "EEtu" },
          { name: "network-id", value: "1" }
        ]
      }
    },
    {
      name: "IPv6 host",
      line: "candidate:2 1 udp 2122262783 2001:db8:85a3::8a2e:370:7334 50000 typ host generation 0 network-id 2",
      fields: {
        foundation: "2",
        component: 1,
        protocol: "udp",
        priority: 2122262783,
        address: "2001:db8:85a3::8a2e:370:7334",
        port: 50000,
        type: "host",
        extensions: [{ name: "generation", value: "0" }, { name: "network-id", value: "2" }]
      }
    },
    {
      name: "srflx behind mDNS (raddr 0.0.0.0 rport 0), RTCP component",
      line: "candidate:4 2 udp 1686052606 203.0.113.7 40000 typ srflx raddr 0.0.0.0 rport 0",
      fields: {
        foundation: "4",
        component: 2,
        protocol: "udp",
        priority: 1686052606,
        address: "203.0.113.7",
        port: 40000,
        type: "srflx",
        relatedAddress: "0.0.0.0",
        relatedPort: 0,
        extensions: []
      }
    },
    {
      name: "aiortc hex foundation, prflx, IPv6 relay address",
      line: "candidate:6d9f2f1e8f1a4c5b9e3d2a1b0c9d8e7f 1 udp 1845501695 2001:db8::2 3478 typ prflx raddr :: rport 9",
      fields: {
        foundation: "6d9f2f1e8f1a4c5b9e3d2a1b0c9d8e7f",
        component: 1,
        protocol: "udp",
        priority: 1845501695,
        address: "2001:db8::2",
        port: 3478,
        type: "prflx",
        relatedAddress: "::",
        relatedPort: 9,
        extensions: []
      }
    },
    {
      name: "upper-case keywords and extreme numbers",
      line: "candidate:a+/Z 256 Udp 4294967295 example.com 65535 TYP Relay RADDR 1.2.3.4 RPORT 1 Gen X",
      canonical: "candidate:a+/Z 256 udp 4294967295 example.com 65535 typ relay raddr 1.2.3.4 rport 1 Gen X",
      fields: {
        foundation: "a+/Z",
        component: 256,
        protocol: "udp",
        priority: 4294967295,
        address: "example.com",
        port: 65535,
        type: "relay",
        relatedAddress: "1.2.3.4",
        relatedPort: 1,
        extensions: [{ name: "Gen", value: "X" }]
      }
    },
    {
      name: "passive TCP with Chrome extensions after tcptype",
      line: "candidate:5 1 tcp 1518280447 192.168.1.10 9 typ host tcptype passive generation 0 network-id 1",
      fields: {
        foundation: "5",
        component: 1,
        protocol: "tcp",
        priority: 1518280447,
        address: "192.168.1.10",
        port: 9,
        type: "host",
        tcpType: "passive",
        extensions: [{ name: "generation", value: "0" }, { name: "network-id", value: "1" }]
      }
    }
  ]

  for (const { canonical, fields, line, name } of valid) {
    it.effect(`decodes and re-encodes: ${name}`, () =>
      Effect.gen(function*() {
        assert.deepStrictEqual(yield* parseIceCandidate(line), fields)
        const encoded = yield* Schema.encodeEffect(IceCandidate)(fields)
        assert.strictEqual(encoded, canonical ?? line)
        assert.strictEqual(formatIceCandidate(fields), canonical ?? line)
        // The canonical form is a fixpoint.
        assert.deepStrictEqual(yield* parseIceCandidate(encoded), fields)
      }))
  }

  const invalid: ReadonlyArray<{ readonly name: string; readonly line: string; readonly reason: string }> = [
    { name: "empty string", line: "", reason: "empty" },
    { name: "a= prefix", line: "a=candidate:1 1 udp 2122317823 192.168.1.10 54321 typ host", reason: "a=" },
    { name: "no candidate: prefix", line: "1 1 udp 2122317823 192.168.1.10 54321 typ host", reason: "candidate:" },
    { name: "missing typ", line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 host", reason: "typ" },
    { name: "typ misspelled", line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 type host", reason: "\"typ\"" },
    { name: "port 70000", line: "candidate:1 1 udp 2122317823 192.168.1.10 70000 typ host", reason: "port" },
    { name: "component 0", line: "candidate:1 0 udp 2122317823 192.168.1.10 54321 typ host", reason: "component" },
    { name: "component 257", line: "candidate:1 257 udp 2122317823 192.168.1.10 54321 typ host", reason: "component" },
    { name: "negative priority", line: "candidate:1 1 udp -1 192.168.1.10 54321 typ host", reason: "priority" },
    { name: "priority 2^32", line: "candidate:1 1 udp 4294967296 192.168.1.10 54321 typ host", reason: "priority" },
    { name: "hex priority", line: "candidate:1 1 udp 0x10 192.168.1.10 54321 typ host", reason: "priority" },
    { name: "unknown type", line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ magic", reason: "type" },
    { name: "unknown transport", line: "candidate:1 1 sctp 2122317823 192.168.1.10 54321 typ host", reason: "protocol" },
    {
      name: "odd number of extension tokens",
      line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ host generation 0 ufrag",
      reason: "name/value pairs"
    },
    { name: "raddr without value", line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ srflx raddr", reason: "raddr" },
    {
      name: "rport not a number",
      line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ srflx raddr 10.0.0.1 rport x",
      reason: "rport"
    },
    {
      name: "raddr after an extension",
      line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ srflx generation 0 raddr 10.0.0.1",
      reason: "out of place"
    },
    { name: "tcptype on udp", line: "candidate:1 1 udp 2122317823 10.0.0.1 9 typ host tcptype active", reason: "tcp" },
    { name: "unknown tcptype", line: "candidate:1 1 tcp 2122317823 10.0.0.1 9 typ host tcptype sideways", reason: "tcpType" },
    { name: "bad IPv4", line: "candidate:1 1 udp 2122317823 192.168.1.300 54321 typ host", reason: "address" },
    { name: "bad IPv6", line: "candidate:1 1 udp 2122317823 2001:db8:::1 54321 typ host", reason: "address" },
    { name: "bad related address", line: "candidate:1 1 udp 1 1.2.3.4 5 typ srflx raddr a_b rport 5", reason: "relatedAddress" },
    { name: "foundation too long", line: `candidate:${"f".repeat(33)} 1 udp 1 1.2.3.4 5 typ host`, reason: "foundation" },
    { name: "double space", line: "candidate:1 1 udp 2122317823  192.168.1.10 54321 typ host", reason: "single spaces" },
    { name: "trailing CRLF", line: "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ host\r\n", reason: "printable ASCII" },
    { name: "non-ASCII extension value", line: "candidate:1 1 udp 1 1.2.3.4 5 typ host label é", reason: "printable ASCII" }
  ]

  for (const { line, name, reason } of invalid) {
    it.effect(`rejects: ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(parseIceCandidate(line))
        assert.strictEqual(error._tag, "InvalidIceCandidate")
        assert.strictEqual(error.line, line)
        assert.include(error.reason, reason)
        assert.isTrue(Result.isFailure(decodeCandidate(line)))
      }))
  }

  it("rejects non-strings without throwing", () => {
    assert.include(failureMessage(decodeCandidate(42)), "Expected string")
    assert.include(failureMessage(decodeCandidate(null)), "Expected string")
  })

  it("refuses to encode invalid fields", () => {
    const base: IceCandidateFields = {
      foundation: "1",
      component: 1,
      protocol: "udp",
      priority: 1,
      address: "10.0.0.1",
      port: 9,
      type: "host",
      extensions: []
    }
    assert.strictEqual(Result.getOrThrow(encodeCandidate(base)), "candidate:1 1 udp 1 10.0.0.1 9 typ host")
    assert.include(failureMessage(encodeCandidate({ ...base, tcpType: "active" })), "tcptype is only valid on a tcp candidate")
    assert.include(failureMessage(encodeCandidate({ ...base, component: 0 })), "component")
    assert.include(failureMessage(encodeCandidate({ ...base, address: "not an address" })), "address")
    assert.include(
      failureMessage(encodeCandidate({ ...base, extensions: [{ name: "raddr", value: "1.2.3.4" }] })),
      "not an extension attribute"
    )
    assert.include(failureMessage(encodeCandidate({ ...base, extensions: [{ name: "a b", value: "1" }] })), "name")
  })

  it("normalizeCandidateLine strips an a= prefix and a line break", () => {
    const line = "candidate:1 1 udp 2122317823 192.168.1.10 54321 typ host"
    assert.strictEqual(normalizeCandidateLine(`a=${line}`), line)
    assert.strictEqual(normalizeCandidateLine(`a=${line}\r\n`), line)
    assert.strictEqual(normalizeCandidateLine(`${line}\n`), line)
    assert.strictEqual(normalizeCandidateLine(line), line)
    assert.strictEqual(normalizeCandidateLine(""), "")
    assert.isTrue(Result.isSuccess(decodeCandidate(normalizeCandidateLine(`a=${line}\r\n`))))
  })

  // Valid candidate structs: every address form, optional fields present or not, arbitrary extensions.
  const OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
  const GROUP = "[0-9a-fA-F]{1,4}"
  const Address = Schema.Union([
    Schema.String.check(Schema.isPattern(new RegExp(`^${OCTET}(?:\\.${OCTET}){3}$`))),
    Schema.String.check(Schema.isPattern(new RegExp(`^${GROUP}(?::${GROUP}){7}$`))),
    Schema.String.check(Schema.isPattern(new RegExp(`^(?:${GROUP}(?::${GROUP}){0,3})?::(?:${GROUP}(?::${GROUP}){0,2})?$`))),
    Schema.String.check(Schema.isPattern(new RegExp(`^::ffff:${OCTET}(?:\\.${OCTET}){3}$`))),
    Schema.String.check(
      Schema.isPattern(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\.local$/)
    ),
    Schema.String.check(Schema.isPattern(/^[a-z0-9](?:[a-z0-9-]{0,10}[a-z0-9])?(?:\.[a-z][a-z0-9-]{0,10}[a-z0-9])*\.[a-z]{2,6}$/))
  ])
  const { address: _address, relatedAddress: _relatedAddress, ...otherFields } = IceCandidateFieldsSchema.fields
  const candidates = Arbitrary.schema(
    Schema.Struct({ ...otherFields, address: Address, relatedAddress: Schema.optionalKey(Address) })
  ).pipe(Arbitrary.map((c): IceCandidateFields => {
    if (c.protocol === "tcp" || c.tcpType === undefined) return c
    const { tcpType: _tcpType, ...udp } = c
    return udp
  }))

  it.effect.prop("decode(encode(c)) equals c for valid candidates", [candidates], ([candidate]) =>
    Effect.gen(function*() {
      const line = yield* Schema.encodeEffect(IceCandidate)(candidate)
      assert.isTrue(line.startsWith("candidate:"))
      assert.deepStrictEqual(yield* Schema.decodeEffect(IceCandidate)(line), candidate)
    }))

  it("decoding arbitrary text never throws", () => {
    const tokens = fc.array(
      fc.oneof(
        fc.constantFrom("typ", "host", "raddr", "rport", "tcptype", "active", "udp", "TCP", "generation", "0", "1", "::"),
        fc.string({ maxLength: 6 })
      ),
      { maxLength: 16 }
    )
    fc.assert(
      fc.property(fc.oneof(fc.string(), tokens.map((t) => `candidate:${t.join(" ")}`)), (line) => {
        const result = decodeCandidate(line)
        // A line that decodes is re-encoded to a line that decodes to the same fields.
        if (Result.isSuccess(result)) {
          assert.deepStrictEqual(Result.getOrThrow(decodeCandidate(formatIceCandidate(result.success))), result.success)
        }
      }),
      { numRuns: 2000 }
    )
  })
})
