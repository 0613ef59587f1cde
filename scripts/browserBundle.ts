/**
 * Bundles for the browser with esbuild: the `aiconexus/browser` library (its size is a benchmark),
 * the page `aiconexus gateway --web` serves, and test entries.
 *
 *     node scripts/browserBundle.ts page [dir]    the page into dir (default dist/web)
 *
 * @since 0.1.0
 */
import { copyFile, mkdir } from "node:fs/promises"
import { join } from "node:path"
import { gzipSync } from "node:zlib"
import * as esbuild from "esbuild"

const ROOT = new URL("..", import.meta.url).pathname

/** The library entry of `aiconexus/browser`. */
export const LIBRARY_ENTRY = join(ROOT, "src/browser/index.ts")
/** The page's script and HTML. */
export const PAGE_ENTRY = join(ROOT, "src/browser/page/main.ts")
export const PAGE_HTML = join(ROOT, "src/browser/page/index.html")
/** Where `npm run build:web` writes the page, and `aiconexus gateway --web` reads it. */
export const DEFAULT_PAGE_DIR = join(ROOT, "dist/web")

const options = (entry: string, minify: boolean): esbuild.BuildOptions => ({
  entryPoints: [entry],
  bundle: true,
  format: "esm",
  platform: "browser",
  target: "es2022",
  minify,
  write: false,
  metafile: true,
  logLevel: "silent"
})

/** One entry as a single minified (or readable) ES module. */
export const bundle = async (entry: string, minify = true): Promise<{ readonly code: string; readonly metafile: esbuild.Metafile }> => {
  const result = await esbuild.build(options(entry, minify))
  return { code: result.outputFiles![0]!.text, metafile: result.metafile! }
}

/** The library's minified and gzipped size, and the bytes each package (or our own source) takes. */
export const librarySize = async () => {
  const { code, metafile } = await bundle(LIBRARY_ENTRY)
  const output = Object.values(metafile.outputs)[0]!
  const byPackage = new Map<string, number>()
  for (const [path, { bytesInOutput }] of Object.entries(output.inputs)) {
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path)
    const owner = match === null ? "aiconexus (src/)" : match[1]!
    byPackage.set(owner, (byPackage.get(owner) ?? 0) + bytesInOutput)
  }
  return {
    minifiedBytes: Buffer.byteLength(code),
    gzippedBytes: gzipSync(code, { level: 9 }).byteLength,
    byPackage: [...byPackage].sort((a, b) => b[1] - a[1])
  }
}

/** Writes the page (index.html and page.js) into `dir`. */
export const buildPage = async (dir: string = DEFAULT_PAGE_DIR): Promise<string> => {
  await mkdir(dir, { recursive: true })
  await esbuild.build({ ...options(PAGE_ENTRY, true), write: true, metafile: false, outfile: join(dir, "page.js") })
  await copyFile(PAGE_HTML, join(dir, "index.html"))
  return dir
}

if (import.meta.main) {
  const [what, dir] = process.argv.slice(2)
  if (what !== "page") {
    console.error("usage: node scripts/browserBundle.ts page [dir]")
    process.exit(2)
  }
  console.log(`page written to ${await buildPage(dir)}`)
}
