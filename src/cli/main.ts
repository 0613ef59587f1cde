#!/usr/bin/env node
/**
 * The `aiconexus` command line's entry point: checks the Node.js version, answers a bare
 * `--version` without loading anything else, and hands the rest to `Cli.ts`.
 *
 * @since 0.1.0
 */
import { readFileSync } from "node:fs"

const NODE_MAJOR = 22
const NODE_MINOR = 19

const [major = 0, minor = 0] = process.versions.node.split(".").map(Number)
if (major < NODE_MAJOR || (major === NODE_MAJOR && minor < NODE_MINOR)) {
  console.error(`aiconexus needs Node.js ${NODE_MAJOR}.${NODE_MINOR} or newer; this is ${process.versions.node}`)
  process.exit(1)
}

// package.json is two folders up from both src/cli/main.ts and dist/cli/main.js.
const { version } = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }
const args = process.argv.slice(2)

if (args.length === 1 && (args[0] === "--version" || args[0] === "-v")) {
  // What effect/cli prints for --version, without loading it.
  console.log(`aiconexus v${version}`)
} else {
  const { main } = await import("./Cli.ts")
  await main(args, version)
}
