import { readFileSync } from "node:fs"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { ROOT } from "./processes.ts"

const engines = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { engines: { node: string } }).engines.node

describe("runtime", () => {
  it("package.json's engines is what the command line checks: Node.js 22.19 or newer", () => {
    assert.strictEqual(engines, ">=22.19.0")
    assert.include(readFileSync(join(ROOT, "src/cli/main.ts"), "utf8"), "const NODE_MAJOR = 22\nconst NODE_MINOR = 19\n")
  })

  it("runs on a Node.js that package.json's engines allows (the `node` devDependency pins 24)", () => {
    const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
    assert.isTrue(major > 22 || (major === 22 && minor >= 19), `running on Node ${process.versions.node}`)
  })
})
