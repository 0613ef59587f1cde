/**
 * Run by the `chromium` project only (vitest.config.ts): the browser-safe test files next to it
 * really run in Chromium, with the WebCrypto Ed25519 the core relies on.
 */
import { assert, describe, it } from "@effect/vitest"

describe("the chromium test project", () => {
  it("runs in Chromium, with WebCrypto Ed25519", async () => {
    assert.include(navigator.userAgent, "Chrome")
    assert.strictEqual(typeof (globalThis as { process?: unknown }).process, "undefined")
    const keys = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]) as CryptoKeyPair
    const data = new TextEncoder().encode("IoAP-v1\n{}")
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, keys.privateKey, data)
    assert.isTrue(await crypto.subtle.verify({ name: "Ed25519" }, keys.publicKey, signature, data))
  })
})
