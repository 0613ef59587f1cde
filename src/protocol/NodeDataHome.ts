/**
 * Where key files live by default (Node.js only): the platform's folder for a user's data, so
 * keys never land in the working directory and every folder a command starts from finds the same
 * identity.
 *
 * - `AICONEXUS_HOME` when set;
 * - Linux and other Unix: `$XDG_DATA_HOME/aiconexus`, else `~/.local/share/aiconexus`;
 * - macOS: `~/Library/Application Support/aiconexus`;
 * - Windows: `%APPDATA%\aiconexus`, else `~\AppData\Roaming\aiconexus`.
 *
 * @since 0.1.0
 */
import { existsSync } from "node:fs"
import { homedir } from "node:os"
import * as path from "node:path"

/** What the location depends on (the process's by default). */
export interface Platform {
  readonly env: Readonly<Record<string, string | undefined>>
  readonly platform: string
  readonly home: string
}

const current = (): Platform => ({ env: process.env, platform: process.platform, home: homedir() })

const set = (value: string | undefined): value is string => value !== undefined && value !== ""

/** The folder AIConexus keeps its data in, for this user on this platform. */
export const dataHome = (on: Platform = current()): string => {
  const { env, home, platform } = on
  if (set(env.AICONEXUS_HOME)) return env.AICONEXUS_HOME
  if (platform === "win32") return path.win32.join(set(env.APPDATA) ? env.APPDATA : path.win32.join(home, "AppData", "Roaming"), "aiconexus")
  if (platform === "darwin") return path.posix.join(home, "Library", "Application Support", "aiconexus")
  // XDG: a relative XDG_DATA_HOME is invalid and ignored.
  const xdg = env.XDG_DATA_HOME
  return path.posix.join(set(xdg) && xdg.startsWith("/") ? xdg : path.posix.join(home, ".local", "share"), "aiconexus")
}

/** An agent's identity file: `AICONEXUS_IDENTITY`, else `identity.json` in the data home. */
export const identityFile = (on: Platform = current()): string =>
  set(on.env.AICONEXUS_IDENTITY) ? on.env.AICONEXUS_IDENTITY : path.join(dataHome(on), "identity.json")

/** The gateway's data folder (its identity): `gateway` in the data home. */
export const gatewayDataDir = (on: Platform = current()): string => path.join(dataHome(on), "gateway")

/** The root of the git work tree holding `file` (a folder with `.git` above it), if any. */
export const gitWorkTreeOf = (file: string): string | undefined => {
  let folder = path.dirname(path.resolve(file))
  while (true) {
    if (existsSync(path.join(folder, ".git"))) return folder
    const parent = path.dirname(folder)
    if (parent === folder) return undefined
    folder = parent
  }
}
