import { assert, describe, it } from "@effect/vitest"
import * as NodeChannel from "../../src/gateway/NodeChannel.ts"

const did = (n: number) => `did:key:z6Mk${"a".repeat(40)}${n}`

describe("NodeChannel", () => {
  it("one frame is `<did>\\n<frame>`, the frame kept whole even with newlines in it", () => {
    const frames = [{ to: did(1), frame: "{\"a\":1}\n{\"b\":2}" }]
    assert.strictEqual(NodeChannel.encode(frames), `${did(1)}\n{"a":1}\n{"b":2}`)
    assert.deepStrictEqual(NodeChannel.decode(NodeChannel.encode(frames)), frames)
  })

  it("several frames round-trip in order, whatever characters they hold", () => {
    const frames = [
      { to: did(1), frame: "{\"x\":\"é ✓ 𝄞\"}" },
      { to: did(2), frame: "line one\nline two\n" },
      { to: did(1), frame: "" },
      { to: did(3), frame: "*3\nnot a header" }
    ]
    assert.deepStrictEqual(NodeChannel.decode(NodeChannel.encode(frames)), frames)
  })

  it("a malformed message decodes as nothing at all", () => {
    const good = NodeChannel.encode([{ to: did(1), frame: "abc" }, { to: did(2), frame: "defg" }])
    for (
      const junk of [
        "",
        "\n",
        "no newline",
        good.slice(0, -1), // a frame cut short
        `${good}x`, // something after the last frame
        good.replace("*2", "*3"), // fewer frames than announced
        good.replace("*2", "*1"), // a batch of one is never sent as a batch
        good.replace("*2", "*x"),
        good.replace("\n3\n", "\n-3\n"),
        `*${NodeChannel.MAX_BATCH + 1}\n`
      ]
    ) assert.isUndefined(NodeChannel.decode(junk), JSON.stringify(junk))
  })
})
