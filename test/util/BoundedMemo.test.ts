import { assert, describe, it } from "@effect/vitest"
import { boundedMemo } from "../../src/util/BoundedMemo.ts"

describe("boundedMemo", () => {
  it("holds at most its capacity: past it the oldest entry is forgotten, the newest kept", () => {
    const memo = boundedMemo<string, number>(3)
    for (let i = 0; i < 10; i++) memo.set(`k${i}`, i)
    // The seven oldest are gone; the three newest answer.
    for (let i = 0; i < 7; i++) assert.isUndefined(memo.get(`k${i}`))
    for (let i = 7; i < 10; i++) assert.strictEqual(memo.get(`k${i}`), i)
  })

  it("setting a key it holds replaces the value without forgetting another", () => {
    const memo = boundedMemo<string, number>(2)
    memo.set("a", 1)
    memo.set("b", 2)
    memo.set("b", 3)
    assert.strictEqual(memo.get("a"), 1)
    assert.strictEqual(memo.get("b"), 3)
  })
})
