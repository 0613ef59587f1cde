import { assert, describe, it } from "@effect/vitest"
import { Result, Schema } from "effect"
import * as IJson from "../../src/protocol/IJson.ts"

const rejects = (text: string, reason: string) => {
  const result = IJson.parse(text)
  assert.isTrue(Result.isFailure(result), `expected ${text} to be refused`)
  if (Result.isFailure(result)) assert.include(result.failure.reason, reason)
}

describe("IJson.parse", () => {
  it("parses plain and pretty-printed JSON to the same value", () => {
    const compact = `{"a":[1,2,{"b":null}],"c":"é","d":true}`
    const pretty = `{\n  "a": [1, 2, {"b": null}],\n  "c": "\\u00e9",\n  "d": true\n}`
    assert.deepStrictEqual(Result.getOrThrow(IJson.parse(compact)), JSON.parse(compact))
    assert.deepStrictEqual(Result.getOrThrow(IJson.parse(pretty)), JSON.parse(compact))
  })

  it("refuses duplicate member names at any depth, compact or not", () => {
    rejects(`{"a":1,"a":2}`, "duplicate member name \"a\"")
    rejects(`{"x":{"y":[{"z":1,"z":1}]}}`, "duplicate member name \"z\"")
    rejects(`{ "a" : 1 , "\\u0061" : 2 }`, "duplicate member name \"a\"")
  })

  it("names the duplicated member in a text of up to 4 KiB; past that it only says a name is duplicated (as costly to refuse as to accept)", () => {
    const padded = (length: number) => `{"pad":"${"x".repeat(length - 22)}","a":1,"a":2}`
    assert.strictEqual(padded(IJson.NAMED_DUPLICATE_CHARS).length, IJson.NAMED_DUPLICATE_CHARS)
    rejects(padded(IJson.NAMED_DUPLICATE_CHARS), "duplicate member name \"a\"")
    const long = IJson.parse(padded(IJson.NAMED_DUPLICATE_CHARS + 1))
    assert.isTrue(Result.isFailure(long))
    if (Result.isFailure(long)) assert.strictEqual(long.failure.reason, "a member name is duplicated")
  })

  it("counts members past colons and escaped quotes inside strings", () => {
    rejects(`{"a":"x\\":\\"y","a":1}`, "duplicate member name \"a\"")
    rejects(`{"s":"\\\\","t":{"u":"::","u":"\\"::"}}`, "duplicate member name \"u\"")
    const text = `{"a":"x\\":\\"y:","b":"\\\\","c":[{"d":":"},"e:f"]}`
    assert.deepStrictEqual(Result.getOrThrow(IJson.parse(text)), JSON.parse(text))
  })

  it("refuses lone surrogates in strings and names", () => {
    rejects(`{"a":"\\ud800"}`, "lone surrogate")
    rejects(`{"\\udc00":1}`, "lone surrogate")
    rejects(`{ "a": ["x", "\\udbff"] }`, "lone surrogate")
    assert.isTrue(Result.isSuccess(IJson.parse(`{"a":"\\ud83d\\ude00"}`)))
  })

  it("refuses integers beyond 2^53 - 1 and numbers that are not finite", () => {
    rejects(`{"n":9007199254740993}`, "2^53")
    rejects(`{"n":9007199254740992}`, "2^53")
    rejects(`{"n":-9007199254740992}`, "2^53")
    rejects(`{"n":1e400}`, "not finite")
    assert.deepStrictEqual(Result.getOrThrow(IJson.parse(`{"n":9007199254740991}`)), { n: 9007199254740991 })
    assert.deepStrictEqual(Result.getOrThrow(IJson.parse(`{"n":0.5}`)), { n: 0.5 })
  })

  it("refuses text that is not JSON", () => {
    rejects(`{"a":1,}`, "not JSON")
    rejects(`{'a':1}`, "not JSON")
    rejects(`{"a":NaN}`, "not JSON")
    rejects(``, "not JSON")
  })

  it("keeps a member named __proto__ as an own property", () => {
    const value = Result.getOrThrow(IJson.parse(`{ "__proto__": {"polluted": true} }`)) as Record<string, unknown>
    assert.isTrue(Object.hasOwn(value, "__proto__"))
    assert.isUndefined(({} as Record<string, unknown>).polluted)
    assert.strictEqual(Object.getPrototypeOf(value), Object.prototype)
  })

  // The oracle: what I-JSON allows of a value JSON.stringify can write.
  const isIJson = (value: unknown): boolean => {
    if (typeof value === "number") return Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))
    if (typeof value === "string") return value.isWellFormed()
    if (Array.isArray(value)) return value.every(isIJson)
    if (value !== null && typeof value === "object") {
      return Object.entries(value).every(([name, member]) => name.isWellFormed() && isIJson(member))
    }
    return true
  }

  it.prop("accepts exactly the I-JSON values JSON.stringify writes, indented or not", [Schema.Json], ([value]) => {
    const expected = JSON.parse(JSON.stringify(value))
    for (const text of [JSON.stringify(value), JSON.stringify(value, null, 1)]) {
      const result = IJson.parse(text)
      if (isIJson(expected)) assert.deepStrictEqual(Result.getOrThrow(result), expected)
      else assert.isTrue(Result.isFailure(result))
    }
  })

  it("refuses a large frame with a duplicate name", () => {
    // ~60 KB: the size a hostile client sends to make a refusal expensive (issue 18). What the
    // refusal costs against an acceptance is measured by `npm run bench -- hostile`, not here.
    const members = Array.from({ length: 2500 }, (_, i) => `"k${i}":[1,"two",{"t":"x"}]`).join(",")
    rejects(`{${members},"k2499":0}`, "a member name is duplicated")
  })
})
