import { assert, describe, it } from "@effect/vitest"
import * as DialledUrl from "../../src/gateway/DialledUrl.ts"

const direct = (host: string | undefined) => DialledUrl.dialled(host, undefined, false)

describe("DialledUrl", () => {
  it("accepts the host and port the client dialled, with or without the scheme's default port", () => {
    assert.isUndefined(DialledUrl.refusal("ws://127.0.0.1:8787/ws", [], direct("127.0.0.1:8787")))
    assert.isUndefined(DialledUrl.refusal("wss://GW.example.com/ws", [], direct("gw.example.com")))
    assert.isUndefined(DialledUrl.refusal("wss://gw.example.com:443/ws", [], direct("gw.example.com")))
    assert.isUndefined(DialledUrl.refusal("ws://gw.example.com/ws", [], direct("gw.example.com:80")))
    assert.isUndefined(DialledUrl.refusal("ws://[::1]:8787/ws", [], direct("[::1]:8787")))
  })

  it("refuses another host, another port, another scheme, or no host to compare with", () => {
    assert.isDefined(DialledUrl.refusal("wss://evil.example/ws", [], direct("gw.example.com")))
    assert.isDefined(DialledUrl.refusal("ws://127.0.0.1:9999/ws", [], direct("127.0.0.1:8787")))
    assert.isDefined(DialledUrl.refusal("https://gw.example.com/ws", [], direct("gw.example.com")))
    assert.isDefined(DialledUrl.refusal("not a url", [], direct("gw.example.com")))
    assert.isDefined(DialledUrl.refusal("ws://gw.example.com/ws", [], direct(undefined)))
    assert.isDefined(DialledUrl.refusal("ws://gw.example.com/ws", [], direct("bad host with spaces")))
  })

  it("believes X-Forwarded-Host (its first hop) only from a trusted proxy", () => {
    const viaProxy = DialledUrl.dialled("127.0.0.1:8787", "gw.example.com, inner.proxy", true)
    assert.isUndefined(DialledUrl.refusal("wss://gw.example.com/ws", [], viaProxy))
    const untrusted = DialledUrl.dialled("127.0.0.1:8787", "gw.example.com", false)
    assert.isDefined(DialledUrl.refusal("wss://gw.example.com/ws", [], untrusted))
    assert.isUndefined(DialledUrl.refusal("ws://127.0.0.1:8787/ws", [], untrusted))
  })

  it("with public URLs configured, accepts exactly those", () => {
    const urls = ["wss://gw.example.com/ws"]
    assert.isUndefined(DialledUrl.refusal("wss://gw.example.com/ws", urls, direct("anything")))
    assert.isDefined(DialledUrl.refusal("wss://gw.example.com:443/ws", urls, direct("gw.example.com")))
    assert.isDefined(DialledUrl.refusal("ws://127.0.0.1:8787/ws", urls, direct("127.0.0.1:8787")))
  })
})
