/**
 * The package as a user gets it: `npm pack`, then `npm install` of the tarball into a fresh
 * project (its dependencies come from the registry), and there
 *   1. an ESM TypeScript Effect program importing the subpaths (docs/examples/two-agents.ts, the
 *      README's example, unchanged) runs to its echo answer,
 *   2. the installed `aiconexus demo` exits 0,
 *   3. `tsc` type-checks the program against the shipped declarations (and refuses a wrong call).
 * One install, reused by the three checks; the temporary folder is removed at the end.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import { ROOT, run, runNode } from "../processes.ts"

const NODE_BIN = dirname(process.execPath)
const TSC = join(ROOT, "node_modules/.bin/tsc")
const EXAMPLE = join(ROOT, "docs/examples/two-agents.ts")
const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as {
  readonly version: string
  readonly devDependencies: Record<string, string>
}

/** A temporary folder removed when the scope closes. */
const temporaryFolder = Effect.acquireRelease(
  Effect.sync(() => mkdtempSync(join(tmpdir(), "aiconexus-package-"))),
  (folder) => Effect.sync(() => rmSync(folder, { recursive: true, force: true }))
)

describe("the npm package", () => {
  it.live("packs, installs into a fresh project, runs the example and the CLI, and type-checks against its declarations", () =>
    Effect.gen(function*() {
      const folder = yield* temporaryFolder
      const project = join(folder, "project")
      // Key files of the example's gateway and of the demo go here, never to the real home.
      const home = join(folder, "home")
      const env = { HOME: home, XDG_DATA_HOME: join(home, ".local/share"), PATH: `${NODE_BIN}:${process.env.PATH ?? ""}` }

      // npm pack builds dist/ first (prepack); --json lists the files in the tarball.
      const packed = yield* run("npm", ["pack", "--json", "--pack-destination", folder], { timeoutMs: 120_000, env })
      assert.strictEqual(packed.code, 0, packed.output)
      const listing = JSON.parse(packed.output.slice(packed.output.indexOf("[\n"))) as Array<{
        readonly filename: string
        readonly files: ReadonlyArray<{ readonly path: string }>
      }>
      const files = listing[0]!.files.map((f) => f.path)
      for (const shipped of ["dist/index.js", "dist/index.d.ts", "dist/agent/index.js", "dist/cli/main.js", "dist/cli/main.js.map", "package.json"]) {
        assert.include(files, shipped)
      }
      assert.deepStrictEqual(files.filter((f) => /^(test|bench|node_modules)\//.test(f)), [])

      mkdirSync(project)
      writeFileSync(join(project, "package.json"), JSON.stringify({
        name: "consumer",
        private: true,
        type: "module",
        dependencies: {
          aiconexus: `file:${join(folder, listing[0]!.filename)}`,
          "@types/node": manifest.devDependencies["@types/node"]
        }
      }, null, 2))
      const installed = yield* run("npm", ["install", "--no-audit", "--no-fund"], { cwd: project, timeoutMs: 240_000, env })
      assert.strictEqual(installed.code, 0, installed.output)

      // 1. The README's example, as a user would save it, imports aiconexus/agent, /client, /gateway, /protocol, /webrtc.
      copyFileSync(EXAMPLE, join(project, "program.ts"))
      const example = yield* runNode(["program.ts"], { cwd: project, timeoutMs: 30_000, env })
      assert.strictEqual(example.code, 0, example.output)
      assert.match(example.output, /^alice got \{"text":"hello, bob"\}$/m)

      // 2. The installed command (its #! line finds node on PATH).
      const demo = yield* run(join(project, "node_modules/.bin/aiconexus"), ["demo"], { cwd: project, timeoutMs: 40_000, env })
      assert.strictEqual(demo.code, 0, demo.output)
      assert.include(demo.output, "demo complete")
      const version = yield* run(join(project, "node_modules/.bin/aiconexus"), ["--version"], { cwd: project, env })
      assert.strictEqual(version.output.trim(), `aiconexus v${manifest.version}`)

      // 3. Type-checked against the shipped .d.ts files (no skipLibCheck); a wrong call is refused.
      const compilerOptions = {
        target: "es2024",
        lib: ["es2024", "DOM"],
        module: "nodenext",
        moduleResolution: "nodenext",
        types: ["node"],
        strict: true,
        noEmit: true
      }
      writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["program.ts"] }))
      const checked = yield* run(TSC, ["-p", "."], { cwd: project, timeoutMs: 60_000, env })
      assert.strictEqual(checked.code, 0, checked.output)
      writeFileSync(
        join(project, "wrong.ts"),
        readFileSync(EXAMPLE, "utf8").replace(`session.request("echo", { text: "hello, bob" })`, `session.request("echo", 42)`)
      )
      writeFileSync(join(project, "tsconfig.wrong.json"), JSON.stringify({ compilerOptions, files: ["wrong.ts"] }))
      const refused = yield* run(TSC, ["-p", "tsconfig.wrong.json"], { cwd: project, timeoutMs: 60_000, env })
      assert.notStrictEqual(refused.code, 0)
      assert.match(refused.output, /wrong\.ts\(\d+,\d+\): error TS2345/)
    }).pipe(Effect.scoped), { timeout: 600_000 })
})
