import { assert, describe, it } from "@effect/vitest"
import { Arbitrary, Effect, Result, Schema } from "effect"
import fc from "fast-check"
import {
  ConnectionState,
  DataChannelConfig,
  formatIceCandidate,
  IceCandidate,
  type IceCandidateFields,
  IceCandidateFields as IceCandidateFieldsSchema,
  IceConnectionState,
  isConnectionAddress,
  isIPv4,
  isIPv6,
  MAX_SDP_BYTES,
  normalizeCandidateLine,
  parseIceCandidate,
  parseSdp,
  SessionDescription,
  SignalingState
} from "../../src/protocol/WebRtc.ts"
import { utf8ByteLength } from "../../src/protocol/Utf8.ts"

const decodeCandidate = Schema.decodeUnknownResult(IceCandidate)
const encodeCandidate = Schema.encodeUnknownResult(IceCandidate)

/** The message of a decoding failure; fails the test if decoding succeeds. */
const failureMessage = (result: Result.Result<unknown, Schema.SchemaError>): string => {
  if (Result.isSuccess(result)) assert.fail(`expected a failure, decoded ${JSON.stringify(result.success)}`)
  return result.failure.message
}

// ---------------------------------------------------------------------------
// ICE candidates
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Session descriptions
// ---------------------------------------------------------------------------

const FINGERPRINT = "B3:3F:E5:9A:1C:84:F5:C4:85:BC:65:64:A8:E8:41:DE:2C:35:C0:5F:A9:E6:46:B6:E8:D0:5B:0D:F7:C7:05:FC"

// An offer as libdatachannel writes it: one data channel section carrying the ICE and DTLS attributes.
const LIBDATACHANNEL_OFFER = [
  "v=0",
  "o=rtc 2573185738 0 IN IP4 127.0.0.1",
  "s=-",
  "t=0 0",
  "a=group:BUNDLE 0",
  "a=msid-semantic:WMS *",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "c=IN IP4 0.0.0.0",
  "a=mid:0",
  "a=sendrecv",
  "a=sctp-port:5000",
  "a=max-message-size:262144",
  "a=setup:actpass",
  "a=ice-ufrag:Jx6S",
  "a=ice-pwd:5uuF4uFqnSQ6pEZjyPXkeh",
  "a=ice-options:trickle",
  `a=fingerprint:sha-256 ${FINGERPRINT}`,
  "a=candidate:1 1 UDP 2122317823 192.168.1.10 54321 typ host",
  "a=end-of-candidates"
]

// An answer as Firefox writes it: session-level fingerprint, an audio and a data channel section.
const FIREFOX_ANSWER = [
  "v=0",
  "o=mozilla...THIS_IS_SDPARTA-128.0 5108298553523400851 0 IN IP4 0.0.0.0",
  "s=-",
  "t=0 0",
  "a=fingerprint:sha-256 16:e5:f6:0f:20:7a:1a:00:73:45:1c:35:a9:d3:15:d1:7f:dc:17:d7:fa:b6:64:49:b0:0c:df:aa:dc:8b:24:9e",
  "a=group:BUNDLE 0 1",
  "a=ice-options:trickle",
  "a=msid-semantic:WMS *",
  "m=audio 9 UDP/TLS/RTP/SAVPF 109",
  "c=IN IP4 0.0.0.0",
  "a=sendrecv",
  "a=ice-pwd:0b3bcd6ad4a4b9c1e9f6d6f4a0e3c2b1",
  "a=ice-ufrag:8a1c6f2e",
  "a=mid:0",
  "a=rtpmap:109 opus/48000/2",
  "a=setup:active",
  "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
  "c=IN IP4 0.0.0.0",
  "a=sendrecv",
  "a=ice-pwd:0b3bcd6ad4a4b9c1e9f6d6f4a0e3c2b1",
  "a=ice-ufrag:8a1c6f2e",
  "a=mid:1",
  "a=setup:active",
  "a=sctp-port:5000"
]

const crlf = (lines: ReadonlyArray<string>): string => lines.map((line) => `${line}\r\n`).join("")
const lf = (lines: ReadonlyArray<string>): string => lines.map((line) => `${line}\n`).join("")
const withoutLine = (lines: ReadonlyArray<string>, prefix: string) => lines.filter((line) => !line.startsWith(prefix))
const replaceLine = (lines: ReadonlyArray<string>, prefix: string, replacement: string) =>
  lines.map((line) => (line.startsWith(prefix) ? replacement : line))

describe("SessionDescription", () => {
  it("accepts offers and answers up to 32 KiB of UTF-8", () => {
    const decode = Schema.decodeUnknownResult(SessionDescription)
    const offer = { type: "offer", sdp: crlf(LIBDATACHANNEL_OFFER) }
    assert.deepStrictEqual(Result.getOrThrow(decode(offer)), offer)
    assert.isTrue(Result.isSuccess(decode({ type: "answer", sdp: "é".repeat(MAX_SDP_BYTES / 2) })))
    assert.include(failureMessage(decode({ type: "answer", sdp: `${"é".repeat(MAX_SDP_BYTES / 2 - 1)}xyz` })), "32768")
    assert.include(failureMessage(decode({ type: "offer", sdp: "x".repeat(MAX_SDP_BYTES + 1) })), "32768")
    assert.include(failureMessage(decode({ type: "pranswer", sdp: "v=0" })), "type")
    assert.include(failureMessage(decode({ type: "offer" })), "sdp")
  })

  it("counts UTF-8 bytes like TextEncoder", () => {
    fc.assert(
      fc.property(fc.string({ unit: "binary" }), (s) => utf8ByteLength(s) === new TextEncoder().encode(s).length),
      { numRuns: 1000 }
    )
    // Lone surrogates become U+FFFD (3 bytes).
    assert.strictEqual(utf8ByteLength("\ud800"), 3)
    assert.strictEqual(utf8ByteLength("a\udc00b"), 5)
    assert.strictEqual(utf8ByteLength("😀"), 4)
  })
})

describe("parseSdp", () => {
  it.effect("reads a libdatachannel offer (CRLF)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseSdp(crlf(LIBDATACHANNEL_OFFER)), {
        fingerprint: { algorithm: "sha-256", value: FINGERPRINT },
        iceUfrag: "Jx6S",
        icePwd: "5uuF4uFqnSQ6pEZjyPXkeh",
        mids: ["0"],
        hasDataChannel: true,
        maxMessageSize: 262144
      })
    }))

  it.effect("reads the same offer with LF endings and without a final line break", () =>
    Effect.gen(function*() {
      const expected = yield* parseSdp(crlf(LIBDATACHANNEL_OFFER))
      assert.deepStrictEqual(yield* parseSdp(lf(LIBDATACHANNEL_OFFER)), expected)
      assert.deepStrictEqual(yield* parseSdp(LIBDATACHANNEL_OFFER.join("\r\n")), expected)
    }))

  it.effect("reads a Firefox answer: session-level fingerprint upper-cased, two media sections", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* parseSdp(lf(FIREFOX_ANSWER)), {
        fingerprint: {
          algorithm: "sha-256",
          value: "16:E5:F6:0F:20:7A:1A:00:73:45:1C:35:A9:D3:15:D1:7F:DC:17:D7:FA:B6:64:49:B0:0C:DF:AA:DC:8B:24:9E"
        },
        iceUfrag: "8a1c6f2e",
        icePwd: "0b3bcd6ad4a4b9c1e9f6d6f4a0e3c2b1",
        mids: ["0", "1"],
        hasDataChannel: true
      })
    }))

  it.effect("reports an SDP without a data channel section", () =>
    Effect.gen(function*() {
      const audioOnly = FIREFOX_ANSWER.slice(0, FIREFOX_ANSWER.indexOf("m=application 9 UDP/DTLS/SCTP webrtc-datachannel"))
      const info = yield* parseSdp(crlf(audioOnly))
      assert.isFalse(info.hasDataChannel)
      assert.deepStrictEqual(info.mids, ["0"])
      assert.isUndefined(info.maxMessageSize)
    }))

  it.effect("accepts a sha-384 fingerprint and a case-insensitive algorithm name", () =>
    Effect.gen(function*() {
      const value =
        "D7:52:C2:C5:1F:BA:0E:29:AA:19:05:70:A9:D4:25:3E:44:07:7A:05:8D:32:97:FA:3A:56:30:D5:BD:01:26:22:F9:7C:28:AC:AE:D3:13:B5:C8:3B:B9:90:CA:A7:DA:85"
      const info = yield* parseSdp(crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", `a=fingerprint:SHA-384 ${value}`)))
      assert.deepStrictEqual(info.fingerprint, { algorithm: "sha-384", value })
    }))

  const invalid: ReadonlyArray<{ readonly name: string; readonly sdp: string; readonly reason: string }> = [
    { name: "no fingerprint", sdp: crlf(withoutLine(LIBDATACHANNEL_OFFER, "a=fingerprint:")), reason: "no a=fingerprint" },
    { name: "no ice-ufrag", sdp: crlf(withoutLine(LIBDATACHANNEL_OFFER, "a=ice-ufrag:")), reason: "no a=ice-ufrag" },
    { name: "no ice-pwd", sdp: crlf(withoutLine(LIBDATACHANNEL_OFFER, "a=ice-pwd:")), reason: "no a=ice-pwd" },
    {
      name: "fingerprint with non-hex bytes",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", `a=fingerprint:sha-256 ZZ${FINGERPRINT.slice(2)}`)),
      reason: "line 17: a=fingerprint value"
    },
    {
      name: "fingerprint one byte short",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", `a=fingerprint:sha-256 ${FINGERPRINT.slice(3)}`)),
      reason: "a sha-256 fingerprint has 32 bytes"
    },
    {
      name: "fingerprint without separators",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", `a=fingerprint:sha-256 ${FINGERPRINT.replaceAll(":", "")}`)),
      reason: "a=fingerprint value"
    },
    {
      name: "md5 fingerprint",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", `a=fingerprint:md5 ${FINGERPRINT.slice(0, 47)}`)),
      reason: "algorithm"
    },
    {
      name: "fingerprint without a value",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=fingerprint:", "a=fingerprint:sha-256")),
      reason: "expected a=fingerprint:<hash> <hex bytes>"
    },
    {
      name: "ufrag too short",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=ice-ufrag:", "a=ice-ufrag:abc")),
      reason: "a=ice-ufrag"
    },
    {
      name: "too large",
      sdp: crlf([...LIBDATACHANNEL_OFFER, `a=x-padding:${"p".repeat(MAX_SDP_BYTES)}`]),
      reason: "more than 32768"
    },
    { name: "empty", sdp: "", reason: "empty" },
    { name: "not starting with v=0", sdp: crlf(LIBDATACHANNEL_OFFER.slice(1)), reason: "v=0" },
    {
      name: "a line that is not <type>=<value>",
      sdp: crlf([...LIBDATACHANNEL_OFFER.slice(0, 5), "garbage", ...LIBDATACHANNEL_OFFER.slice(5)]),
      reason: "line 6"
    },
    {
      name: "a malformed m= line",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "m=application", "m=application 9")),
      reason: "malformed m= line"
    },
    {
      name: "a duplicate mid",
      sdp: crlf(replaceLine(FIREFOX_ANSWER, "a=mid:1", "a=mid:0")),
      reason: "used twice"
    },
    {
      name: "a non-numeric max-message-size",
      sdp: crlf(replaceLine(LIBDATACHANNEL_OFFER, "a=max-message-size:", "a=max-message-size:lots")),
      reason: "max-message-size"
    }
  ]

  for (const { name, reason, sdp } of invalid) {
    it.effect(`rejects: ${name}`, () =>
      Effect.gen(function*() {
        const error = yield* Effect.flip(parseSdp(sdp))
        assert.strictEqual(error._tag, "InvalidSdp")
        assert.include(error.reason, reason)
      }))
  }
})

// ---------------------------------------------------------------------------
// Data channels
// ---------------------------------------------------------------------------

describe("DataChannelConfig", () => {
  const decode = Schema.decodeUnknownResult(DataChannelConfig)

  it("accepts the control channel and a negotiated partially reliable channel", () => {
    const control = { label: "ioap", ordered: true, protocol: "ioap.v1" }
    assert.deepStrictEqual(Result.getOrThrow(decode(control)), control)
    const negotiated = { label: "", ordered: false, maxPacketLifeTime: 500, negotiated: true, id: 0 }
    assert.deepStrictEqual(Result.getOrThrow(decode(negotiated)), negotiated)
    assert.deepStrictEqual(Result.getOrThrow(decode({ label: "x", maxRetransmits: 0, negotiated: false })), {
      label: "x",
      maxRetransmits: 0,
      negotiated: false
    })
    assert.isTrue(Result.isSuccess(decode({ label: "x", negotiated: true, id: 65534 })))
  })

  it("rejects maxRetransmits together with maxPacketLifeTime", () => {
    assert.include(
      failureMessage(decode({ label: "x", maxRetransmits: 3, maxPacketLifeTime: 100 })),
      "maxRetransmits and maxPacketLifeTime cannot both be set"
    )
  })

  it("requires an id on a negotiated channel", () => {
    assert.include(failureMessage(decode({ label: "x", negotiated: true })), "a negotiated channel needs an id")
  })

  it("rejects an id without negotiated: true", () => {
    assert.include(failureMessage(decode({ label: "x", id: 1 })), "an id is only given with negotiated: true")
    assert.include(failureMessage(decode({ label: "x", negotiated: false, id: 1 })), "an id is only given with negotiated: true")
  })

  it("checks ranges", () => {
    assert.include(failureMessage(decode({ label: "x", negotiated: true, id: 65535 })), "id")
    assert.include(failureMessage(decode({ label: "x", negotiated: true, id: -1 })), "id")
    assert.include(failureMessage(decode({ label: "x", maxRetransmits: 65536 })), "maxRetransmits")
    assert.include(failureMessage(decode({ label: "x", maxRetransmits: 1.5 })), "maxRetransmits")
    assert.include(failureMessage(decode({ label: "x", maxPacketLifeTime: -1 })), "maxPacketLifeTime")
  })

  it("limits label and protocol to 65535 UTF-8 bytes", () => {
    assert.isTrue(Result.isSuccess(decode({ label: "€".repeat(21845) })))
    assert.include(failureMessage(decode({ label: `${"€".repeat(21845)}x` })), "label")
    assert.include(failureMessage(decode({ label: "x", protocol: "p".repeat(65536) })), "protocol")
  })

  it("omits optional members: null and undefined are rejected", () => {
    assert.include(failureMessage(decode({ label: "x", ordered: null })), "ordered")
    assert.include(failureMessage(decode({ label: "x", ordered: undefined })), "ordered")
    assert.include(failureMessage(decode({ label: "x", protocol: undefined })), "protocol")
    assert.include(failureMessage(decode({})), "label")
  })
})

// ---------------------------------------------------------------------------
// States
// ---------------------------------------------------------------------------

describe("states", () => {
  it("ConnectionState is RTCPeerConnectionState", () => {
    for (const state of ["new", "connecting", "connected", "disconnected", "failed", "closed"]) {
      assert.isTrue(Schema.is(ConnectionState)(state), state)
    }
    assert.isFalse(Schema.is(ConnectionState)("checking"))
    assert.isFalse(Schema.is(ConnectionState)("completed"))
  })

  it("IceConnectionState is RTCIceConnectionState", () => {
    for (const state of ["new", "checking", "connected", "completed", "failed", "disconnected", "closed"]) {
      assert.isTrue(Schema.is(IceConnectionState)(state), state)
    }
    assert.isFalse(Schema.is(IceConnectionState)("connecting"))
  })

  it("SignalingState has no provisional answer states", () => {
    for (const state of ["stable", "have-local-offer", "have-remote-offer"]) {
      assert.isTrue(Schema.is(SignalingState)(state), state)
    }
    assert.isFalse(Schema.is(SignalingState)("have-local-pranswer"))
    assert.isFalse(Schema.is(SignalingState)("closed"))
  })
})
