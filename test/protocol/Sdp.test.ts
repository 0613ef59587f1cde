import { assert, describe, it } from "@effect/vitest"
import { Effect, Result, Schema } from "effect"
import fc from "fast-check"
import { MAX_SDP_BYTES, parseSdp, SessionDescription } from "../../src/protocol/Sdp.ts"
import { utf8ByteLength } from "../../src/protocol/Utf8.ts"
import { failureMessage } from "./failureMessage.ts"

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
