import { assert, describe, it } from "@effect/vitest"
import fc from "fast-check"
import { toolName, VALID } from "../../src/mcp/ToolNames.ts"
import * as Untrusted from "../../src/mcp/Untrusted.ts"

const DID = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
const OTHER = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"

describe("Untrusted", () => {
  it("strips control, bidirectional and invisible characters from free text", () => {
    assert.strictEqual(Untrusted.text("a\u0007b\u202ec\u200bd\u0000e\nf\u2066g\ufeffh"), "a b c d e f g h")
    assert.strictEqual(Untrusted.text("lone \ud800 surrogate"), "lone   surrogate")
    assert.strictEqual(Untrusted.text("emoji 😀 stays"), "emoji 😀 stays")
  })

  it("bounds text and says how much was cut, never inside a surrogate pair", () => {
    assert.strictEqual(Untrusted.text("abcdef", 3), "abc… [3 more characters cut]")
    assert.strictEqual(Untrusted.text("ab😀", 3), "ab… [2 more characters cut]")
  })

  it("escapes hidden characters in JSON so nothing is lost and the JSON still parses", () => {
    const value = { text: "x\u202ey\u0085z\u2028", n: [1, 2] }
    const text = Untrusted.json(value)
    assert.notMatch(text, /[\u202e\u0085\u2028]/)
    assert.deepStrictEqual(JSON.parse(text), value)
    assert.strictEqual(Untrusted.json(undefined), "null")
  })

  it("never lets a hidden character through, for any string", () => {
    fc.assert(fc.property(fc.string({ unit: "binary" }), (s) => {
      assert.notMatch(Untrusted.text(s, 10_000), /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/)
      assert.notMatch(Untrusted.json(s), /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]/)
    }))
  })
})

describe("ToolNames", () => {
  it("is valid for any capability id, and stable", () => {
    fc.assert(fc.property(fc.string({ minLength: 1, maxLength: 128, unit: "binary" }), (id) => {
      const name = toolName(DID, id)
      assert.match(name, VALID)
      assert.strictEqual(toolName(DID, id), name)
    }))
  })

  it("keeps a clean id readable and tells peers and altered ids apart", () => {
    assert.match(toolName(DID, "echo"), /^echo__[0-9a-z]{7}$/)
    assert.notStrictEqual(toolName(DID, "echo"), toolName(OTHER, "echo"))
    // Ids that clean up to the same text still get different names.
    assert.notStrictEqual(toolName(DID, "a.b"), toolName(DID, "a_b"))
    assert.notStrictEqual(toolName(DID, "a.b"), toolName(DID, "a:b"))
    const long = "x".repeat(100)
    assert.notStrictEqual(toolName(DID, long), toolName(DID, long + "y"))
  })
})
