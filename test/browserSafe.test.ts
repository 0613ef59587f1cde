/**
 * The protocol, client, peer-connection and agent code must run in browsers: no Node built-ins
 * and no Buffer, except in Node-only Layers, which are modules named `Node*.ts`.
 */
import { readdirSync, readFileSync, statSync } from "node:fs"
import { builtinModules } from "node:module"
import { join, relative } from "node:path"
import { assert, describe, it } from "@effect/vitest"

const ROOT = new URL("..", import.meta.url).pathname
const BROWSER_SAFE_FOLDERS = ["src/protocol", "src/client", "src/webrtc", "src/agent", "src/machine", "src/util", "src/browser"]
const isNodeOnly = (file: string) => /(^|\/)Node[A-Z][^/]*\.ts$/.test(file)

const sources = (folder: string): Array<string> => {
  const dir = join(ROOT, folder)
  try {
    statSync(dir)
  } catch {
    return []
  }
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => join(dir, file))
}

const builtins = new Set(builtinModules.flatMap((name) => [name, `node:${name}`]))
const IMPORT = /(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)|require\(\s*["']([^"']+)["']\s*\)/g

/** The Node-only uses in one source text. */
const nodeUses = (text: string): Array<string> => {
  const uses: Array<string> = []
  for (const match of text.matchAll(IMPORT)) {
    const specifier = match[1] ?? match[2] ?? match[3] ?? ""
    if (builtins.has(specifier) || specifier.startsWith("node:") || specifier.startsWith("@effect/platform-node")) {
      uses.push(`imports ${specifier}`)
    }
  }
  if (/\bBuffer\b/.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))) uses.push("uses Buffer")
  if (/\bprocess\./.test(text.replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, ""))) uses.push("uses process")
  return uses
}

describe("browser-safe core", () => {
  it("the scanner finds node: imports, builtin imports, platform-node, Buffer and process", () => {
    assert.deepStrictEqual(nodeUses(`import * as fs from "node:fs"`), ["imports node:fs"])
    assert.deepStrictEqual(nodeUses(`import { createHash } from "crypto"`), ["imports crypto"])
    assert.deepStrictEqual(nodeUses(`import { NodeServices } from "@effect/platform-node"`), ["imports @effect/platform-node"])
    assert.deepStrictEqual(nodeUses(`const m = await import("node:os")`), ["imports node:os"])
    assert.deepStrictEqual(nodeUses(`const b = Buffer.from("x")`), ["uses Buffer"])
    assert.deepStrictEqual(nodeUses(`const e = process.env.X`), ["uses process"])
    assert.deepStrictEqual(nodeUses(`import { Effect } from "effect"\n// Buffer in a comment is fine`), [])
  })

  it("src/protocol, src/client, src/webrtc and src/agent use web-standard APIs only (outside Node*.ts Layers)", () => {
    const files = BROWSER_SAFE_FOLDERS.flatMap(sources)
    assert.isAbove(files.length, 0)
    const offenders = files
      .filter((file) => !isNodeOnly(relative(ROOT, file)))
      .flatMap((file) => nodeUses(readFileSync(file, "utf8")).map((use) => `${relative(ROOT, file)} ${use}`))
    assert.deepStrictEqual(offenders, [])
  })
})
