import { mkdirSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { assert, describe, it } from "@effect/vitest"
import * as NodeDataHome from "../../src/protocol/NodeDataHome.ts"
import { temporaryFolder } from "../processes.ts"

const on = (platform: string, env: Record<string, string> = {}) => ({ platform, env, home: platform === "win32" ? "C:\\Users\\ada" : "/home/ada" })

describe("NodeDataHome", () => {
  it("follows each platform's convention for user data", () => {
    assert.strictEqual(NodeDataHome.dataHome(on("linux")), "/home/ada/.local/share/aiconexus")
    assert.strictEqual(NodeDataHome.dataHome(on("linux", { XDG_DATA_HOME: "/data/ada" })), "/data/ada/aiconexus")
    // A relative XDG_DATA_HOME is invalid (XDG Base Directory spec) and ignored.
    assert.strictEqual(NodeDataHome.dataHome(on("linux", { XDG_DATA_HOME: "rel" })), "/home/ada/.local/share/aiconexus")
    assert.strictEqual(NodeDataHome.dataHome(on("freebsd")), "/home/ada/.local/share/aiconexus")
    assert.strictEqual(NodeDataHome.dataHome(on("darwin")), "/home/ada/Library/Application Support/aiconexus")
    assert.strictEqual(NodeDataHome.dataHome(on("win32", { APPDATA: "D:\\Roaming" })), "D:\\Roaming\\aiconexus")
    assert.strictEqual(NodeDataHome.dataHome(on("win32")), "C:\\Users\\ada\\AppData\\Roaming\\aiconexus")
  })

  it("is overridden by AICONEXUS_HOME; the identity file by AICONEXUS_IDENTITY", () => {
    assert.strictEqual(NodeDataHome.dataHome(on("linux", { AICONEXUS_HOME: "/srv/ax", XDG_DATA_HOME: "/x" })), "/srv/ax")
    assert.strictEqual(NodeDataHome.identityFile(on("linux", { AICONEXUS_HOME: "/srv/ax" })), "/srv/ax/identity.json")
    assert.strictEqual(NodeDataHome.identityFile(on("linux", { AICONEXUS_IDENTITY: "/k/me.json" })), "/k/me.json")
    assert.strictEqual(NodeDataHome.gatewayDataDir(on("linux")), "/home/ada/.local/share/aiconexus/gateway")
  })

  it("finds the git work tree a file would be created in", () => {
    const root = temporaryFolder("git")
    mkdirSync(join(root, "repo", ".git"), { recursive: true })
    assert.strictEqual(NodeDataHome.gitWorkTreeOf(join(root, "repo", "keys", "id.json")), join(root, "repo"))
    assert.strictEqual(NodeDataHome.gitWorkTreeOf(join(root, "elsewhere", "id.json")), undefined)
  })

  it("the test run's HOME and data folder are temporary (test/isolatedHome.ts)", () => {
    assert.isTrue(process.env.HOME!.startsWith(join(tmpdir(), "aiconexus-test-home-")))
    assert.isTrue(NodeDataHome.dataHome().startsWith(process.env.HOME!))
  })
})
