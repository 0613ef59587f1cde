import { assert, describe, it } from "@effect/vitest"
import { needed } from "../../src/cli/Cli.ts"

const names = (args: ReadonlyArray<string>) => needed(args).map(([name]) => name)

describe("which subcommand modules a command line loads", () => {
  it("the first word naming a subcommand; its arguments may be names too", () => {
    assert.deepStrictEqual(names(["agent", "call", "did:key:z6Mk", "demo", "{}"]), ["agent"])
    assert.deepStrictEqual(names(["--log-level", "debug", "gateway", "--port", "0"]), ["gateway"])
    assert.deepStrictEqual(names(["discover", "--capability", "keygen"]), ["discover"])
  })

  it("none for a bare --version; all when none is named (root help, completions, a mistake)", () => {
    assert.deepStrictEqual(names(["--version"]), [])
    const all = ["gateway", "demo", "keygen", "discover", "agent", "mcp"]
    assert.deepStrictEqual(names(["--help"]), all)
    assert.deepStrictEqual(names([]), all)
    assert.deepStrictEqual(names(["gatewya"]), all)
  })
})
