/**
 * Vitest global setup: the test run, and every process it starts, gets a temporary HOME and
 * data folders, so no test reads or writes the real user's key files. Removed at the end.
 */
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

export default function setup(): () => void {
  const home = mkdtempSync(join(tmpdir(), "aiconexus-test-home-"))
  process.env.HOME = home
  process.env.XDG_DATA_HOME = join(home, ".local", "share")
  process.env.APPDATA = join(home, "AppData", "Roaming")
  delete process.env.AICONEXUS_HOME
  delete process.env.AICONEXUS_IDENTITY
  return () => rmSync(home, { recursive: true, force: true })
}
