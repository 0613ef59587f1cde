/**
 * The README's library example is `docs/examples/two-agents.ts`, word for word, and it runs:
 * two agents on an embedded gateway, a capability call over a real data channel.
 */
import { mkdtempSync, readFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ROOT, runNode } from "./processes.ts"

const EXAMPLE = join(ROOT, "docs/examples/two-agents.ts")

describe("docs/examples/two-agents.ts", () => {
  it("is the README's library example", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8")
    const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf("## Using it as a library")))?.[1]
    assert.strictEqual(block, readFileSync(EXAMPLE, "utf8"))
  })

  // Run from a folder of its own (its gateway keeps its identity in the test run's temporary HOME).
  it.live("runs: alice discovers bob by capability and calls echo over WebRTC, then exits 0", () =>
    runNode(["--conditions=aiconexus-source", EXAMPLE], { cwd: mkdtempSync(join(tmpdir(), "aiconexus-example-")), timeoutMs: 20_000 }).pipe(Effect.map(({ code, output }) => {
      assert.strictEqual(code, 0, output)
      assert.match(output, /^bob: session from did:key:z6Mk\w+$/m)
      assert.match(output, /^alice got \{"text":"hello, bob"\}$/m)
    })))
})
