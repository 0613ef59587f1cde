import { assert, describe, it } from "@effect/vitest"

describe("runtime", () => {
  it("runs on Node.js 22 or newer (the `node` devDependency pins 24)", () => {
    const major = Number(process.versions.node.split(".")[0])
    assert.isAtLeast(major, 22, `running on Node ${process.versions.node}`)
  })
})
