/**
 * A NAT lab in network namespaces: an "internet" (`wan`) with the gateway and coturn, two NAT
 * routers, one agent host behind each. Built by the tests, removed by their finalizers (also when
 * a test fails); names are unique per run, so parallel runs never meet.
 *
 *   a (10.1.0.2) ─ ra [NAT A] ─ 198.51.100.0/24 ─┐
 *                                                 wan (servers on 203.0.113.1)
 *   b (10.2.0.2) ─ rb [NAT B] ─ 192.0.2.0/24 ────┘
 *
 * Nothing gets a route to the machine's own interfaces: no packet leaves the namespaces.
 * Needs root, `ip`, `iptables`, `tc` and `turnserver` (coturn); see /work/shared/NAT-LAB.md.
 */
import { spawn, execFileSync, spawnSync } from "node:child_process"
import { mkdtempSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { Effect, Exit, Scope } from "effect"
import { CLI, ROOT } from "../processes.ts"

/** How a router treats its hosts' traffic. */
export type Nat =
  /** No NAT: the host's 10.x address is routed (host candidates work across). */
  | "none"
  /** MASQUERADE: endpoint-independent mapping ("cone"). */
  | "cone"
  /** MASQUERADE --random-fully: a new port per destination ("symmetric"). */
  | "symmetric"

export interface LabConfig {
  readonly natA: Nat
  readonly natB: Nat
  /** Router B drops UDP from its host and lets out only TCP to the servers (gateway, TURN/TCP). */
  readonly udpBlockedAtB?: boolean
  /** netem delay on each router interface (each way through a router), ms. */
  readonly delayMs?: number
}

export const SERVER_IP = "203.0.113.1"

/** The project root (the CLI and bench scripts run from it). */
export const ROOT_DIR = ROOT
export const TURN_PORT = 3478
export const TURN_TLS_PORT = 5349
export const TURN_REALM = "aiconexus.test"

/** Whether this machine can build the lab (root, the tools, namespaces). */
export const labUnavailable = (): string | undefined => {
  if (process.getuid?.() !== 0) return "not root: network namespaces need root"
  for (const tool of ["ip", "iptables", "tc", "turnserver", "openssl"]) {
    if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install iproute2 iptables coturn openssl)`
  }
  const probe = `acx-probe-${process.pid}`
  if (spawnSync("ip", ["netns", "add", probe]).status !== 0) return "ip netns add failed: namespaces cannot be created here"
  spawnSync("ip", ["netns", "del", probe])
  return undefined
}

let labs = 0

const sh = (args: ReadonlyArray<string>) => {
  try {
    execFileSync(args[0]!, args.slice(1), { stdio: ["ignore", "ignore", "pipe"] })
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? ""
    throw new Error(`${args.join(" ")}: ${stderr.trim() || String(error)}`)
  }
}

/** A process in a namespace, its output lines as they come. */
export interface LabProcess {
  readonly lines: Array<string>
  readonly exited: Promise<number | null>
}

export interface Lab {
  readonly ns: { readonly wan: string; readonly ra: string; readonly rb: string; readonly a: string; readonly b: string }
  readonly dir: string
  /**
   * The delay added each way between wan and each router: by netem on the router's interfaces, or
   * where the kernel has no netem, by `delay-wire.py` (TUN devices and a user-space copy).
   */
  readonly delayMs: number
  /** The shared secret coturn checks TURN REST credentials with. */
  readonly secret: string
  /** Runs `command` in namespace `ns` until the scope closes (its process group is killed). */
  readonly spawn: (ns: string, command: ReadonlyArray<string>, env?: Record<string, string>) => Effect.Effect<LabProcess, never, Scope.Scope>
  /** Changes a NATting router's mapping for flows that start from now on (cone ↔ symmetric). */
  readonly setNat: (side: "a" | "b", nat: "cone" | "symmetric") => Effect.Effect<void>
  /** Runs the CLI in `ns` in the background. */
  readonly cli: (ns: string, args: ReadonlyArray<string>, env?: Record<string, string>) => Effect.Effect<LabProcess, never, Scope.Scope>
  /** A gateway (the CLI) in `wan` on `port`, handing out STUN and TURN with `secret`; its ws:// URL. */
  readonly gateway: (options: {
    readonly port: number
    readonly secret?: string
    readonly ttlSeconds?: number
    readonly turn?: ReadonlyArray<"udp" | "tcp" | "tls">
    readonly stun?: boolean
  }) => Effect.Effect<string, never, Scope.Scope>
}

/** The first line matching `pattern` (waits up to `timeoutMs`); fails with the output seen so far. */
export const waitLine = (process: LabProcess, pattern: RegExp, timeoutMs = 30_000) =>
  Effect.gen(function*() {
    const deadline = Date.now() + timeoutMs
    while (true) {
      const found = process.lines.map((l) => pattern.exec(l)).find((m) => m !== null)
      if (found) return found
      if (Date.now() > deadline) return yield* Effect.die(new Error(`no line ${pattern} in:\n${process.lines.join("\n")}`))
      yield* Effect.sleep("25 millis")
    }
  })

/** Waits for a process to end; its exit code and output. */
export const finished = (process: LabProcess) =>
  Effect.map(Effect.promise(() => process.exited), (code) => ({ code, output: process.lines.join("\n") }))

/**
 * Whether the kernel has the netem qdisc (some VM kernels are built without it and cannot load
 * modules): then `delay-wire.py` gives the delay instead.
 */
export const netemAvailable = (): boolean => {
  if (netem !== undefined) return netem
  const probe = `acx-netem-${process.pid}`
  if (spawnSync("ip", ["netns", "add", probe]).status !== 0) return (netem = false)
  netem = spawnSync("ip", ["netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"]).status === 0
  spawnSync("ip", ["netns", "del", probe])
  return netem
}
let netem: boolean | undefined

/** A wan ↔ router link still to be made: a delaying wire (delay-wire.py) where netem is missing. */
interface PendingWire {
  readonly side: "a" | "b"
  readonly router: string
  readonly wanNet: string
  readonly lanNet: string
  readonly nat: Nat
}

const build = (id: string, config: LabConfig, wired: boolean) => {
  const wires: Array<PendingWire> = []
  const ns = { wan: `${id}-wan`, ra: `${id}-ra`, rb: `${id}-rb`, a: `${id}-a`, b: `${id}-b` }
  for (const name of Object.values(ns)) {
    sh(["ip", "netns", "add", name])
    sh(["ip", "-n", name, "link", "set", "lo", "up"])
  }
  const ipIn = (name: string, ...args: Array<string>) => sh(["ip", "-n", name, ...args])
  const exec = (name: string, ...args: Array<string>) => sh(["ip", "netns", "exec", name, ...args])
  // The servers' address, on wan's loopback (no dummy interfaces in this kernel).
  ipIn(ns.wan, "addr", "add", `${SERVER_IP}/32`, "dev", "lo")
  exec(ns.wan, "sysctl", "-qw", "net.ipv4.ip_forward=1")
  const router = (side: "a" | "b", router: string, host: string, wanNet: string, lanNet: string, nat: Nat) => {
    const wanIf = `w${side}`
    if (wired) {
      wires.push({ side, router, wanNet, lanNet, nat })
    } else {
      ipIn(ns.wan, "link", "add", wanIf, "type", "veth", "peer", "name", "ext", "netns", router)
      ipIn(ns.wan, "addr", "add", `${wanNet}.1/24`, "dev", wanIf)
      ipIn(ns.wan, "link", "set", wanIf, "up")
      ipIn(router, "addr", "add", `${wanNet}.2/24`, "dev", "ext")
      ipIn(router, "link", "set", "ext", "up")
      ipIn(router, "route", "add", "default", "via", `${wanNet}.1`)
    }
    ipIn(router, "link", "add", "lan", "type", "veth", "peer", "name", "eth0", "netns", host)
    ipIn(router, "addr", "add", `${lanNet}.1/24`, "dev", "lan")
    ipIn(router, "link", "set", "lan", "up")
    ipIn(host, "addr", "add", `${lanNet}.2/24`, "dev", "eth0")
    ipIn(host, "link", "set", "eth0", "up")
    ipIn(host, "route", "add", "default", "via", `${lanNet}.1`)
    exec(router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
    if (nat === "none") {
      if (!wired) ipIn(ns.wan, "route", "add", `${lanNet}.0/24`, "via", `${wanNet}.2`)
    } else {
      exec(router, "iptables", "-t", "nat", "-A", "POSTROUTING", "-o", "ext", "-j", "MASQUERADE", ...(nat === "symmetric" ? ["--random-fully"] : []))
      // An unsolicited packet (a peer's early check) would create a conntrack entry that takes the
      // port our host's later flow needs; drop it before conntrack confirms it (NAT-LAB.md).
      exec(router, "iptables", "-A", "INPUT", "-i", "ext", "-p", "udp", "-m", "conntrack", "--ctstate", "NEW", "-j", "DROP")
    }
    if (config.delayMs !== undefined && config.delayMs > 0 && netemAvailable()) {
      for (const dev of ["ext", "lan"]) sh(["tc", "-n", router, "qdisc", "add", "dev", dev, "root", "netem", "delay", `${config.delayMs}ms`])
    }
  }
  router("a", ns.ra, ns.a, "198.51.100", "10.1.0", config.natA)
  router("b", ns.rb, ns.b, "192.0.2", "10.2.0", config.natB)
  if (config.udpBlockedAtB === true) {
    exec(ns.rb, "iptables", "-A", "FORWARD", "-p", "udp", "-j", "DROP")
    exec(ns.rb, "iptables", "-A", "FORWARD", "-i", "lan", "-p", "tcp", "!", "-d", SERVER_IP, "-j", "DROP")
  }
  return { ns, wires }
}

/** Connects a router to wan through the delay wire `python3 delay-wire.py wX xX` started in wan. */
const connectWire = (ns: Lab["ns"], wire: PendingWire) => {
  const ipIn = (name: string, ...args: Array<string>) => sh(["ip", "-n", name, ...args])
  const wanIf = `w${wire.side}`
  const far = `x${wire.side}`
  ipIn(ns.wan, "link", "set", far, "netns", wire.router)
  ipIn(wire.router, "link", "set", far, "name", "ext")
  ipIn(ns.wan, "addr", "add", `${wire.wanNet}.1/24`, "dev", wanIf)
  ipIn(ns.wan, "link", "set", wanIf, "up")
  ipIn(wire.router, "addr", "add", `${wire.wanNet}.2/24`, "dev", "ext")
  ipIn(wire.router, "link", "set", "ext", "up")
  // A TUN device is point to point: routes name the device, there is no next hop to resolve.
  ipIn(wire.router, "route", "add", "default", "dev", "ext")
  if (wire.nat === "none") ipIn(ns.wan, "route", "add", `${wire.lanNet}.0/24`, "dev", wanIf)
}

const teardown = (ns: Lab["ns"]) => {
  for (const name of Object.values(ns)) {
    // Whatever still runs in our namespaces is ours: stop it, then remove the namespace.
    const pids = spawnSync("ip", ["netns", "pids", name]).stdout?.toString().split(/\s+/).filter((p) => p !== "") ?? []
    for (const pid of pids) {
      try {
        process.kill(Number(pid), "SIGKILL")
      } catch {
        // gone already
      }
    }
    spawnSync("ip", ["netns", "del", name])
  }
}

/**
 * Removes the labs of test runs that died without their finalizers (killed with SIGKILL): the
 * namespaces named after a process id that no longer exists.
 */
const removeOrphans = () => {
  const names = spawnSync("ip", ["netns", "list"]).stdout?.toString().split("\n").map((line) => line.split(" ")[0]!) ?? []
  const orphans = new Set<string>()
  for (const name of names) {
    const owner = /^(acx(\d+)n\d+)-(wan|ra|rb|a|b)$/.exec(name)
    if (owner === null) continue
    try {
      process.kill(Number(owner[2]), 0)
    } catch {
      orphans.add(owner[1]!)
    }
  }
  for (const id of orphans) teardown({ wan: `${id}-wan`, ra: `${id}-ra`, rb: `${id}-rb`, a: `${id}-a`, b: `${id}-b` })
}

/** Builds the lab with coturn running in `wan`; everything is removed when the scope closes. */
export const make = (config: LabConfig): Effect.Effect<Lab, never, Scope.Scope> =>
  Effect.gen(function*() {
    removeOrphans()
    const id = `acx${process.pid}n${++labs}`
    const dir = mkdtempSync(join(tmpdir(), "aiconexus-nat-"))
    yield* Effect.addFinalizer(() => Effect.sync(() => rmSync(dir, { recursive: true, force: true })))
    // Without netem, the delay comes from a user-space wire between wan and each router.
    const wired = (config.delayMs ?? 0) > 0 && !netemAvailable()
    const { ns, wires } = yield* Effect.acquireRelease(
      Effect.sync(() => {
        try {
          return build(id, config, wired)
        } catch (error) {
          teardown({ wan: `${id}-wan`, ra: `${id}-ra`, rb: `${id}-rb`, a: `${id}-a`, b: `${id}-b` })
          throw error
        }
      }),
      ({ ns }) => Effect.sync(() => teardown(ns))
    )
    const secret = `lab-secret-${id}`
    // A test CA and a certificate for the servers' address: coturn's TLS listener uses it, and
    // every CLI process here trusts the CA (NODE_EXTRA_CA_CERTS).
    const certificates = yield* Effect.sync(() => {
      const run = (...args: Array<string>) => execFileSync("openssl", args, { cwd: dir, stdio: "ignore" })
      run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=aiconexus NAT lab CA")
      run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr", "-subj", `/CN=${SERVER_IP}`)
      writeFileSync(join(dir, "server.ext"), `subjectAltName=IP:${SERVER_IP}\n`)
      run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "server.ext")
      return { ca: join(dir, "ca.crt"), cert: join(dir, "server.crt"), key: join(dir, "server.key") }
    })

    const spawnIn = (name: string, command: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      Effect.acquireRelease(
        Effect.sync(() => {
          const child = spawn("ip", ["netns", "exec", name, ...command], {
            cwd: ROOT,
            stdio: ["ignore", "pipe", "pipe"],
            env: { ...process.env, ...env },
            detached: true
          })
          const lines: Array<string> = []
          const collect = (chunk: Buffer) => lines.push(...chunk.toString().split("\n").filter((l) => l !== ""))
          child.stdout.on("data", collect)
          child.stderr.on("data", collect)
          const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)))
          return { child, lines, exited }
        }),
        ({ child }) =>
          Effect.sync(() => {
            try {
              if (child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGKILL")
            } catch {
              // already gone
            }
          })
      )

    for (const wire of wires) {
      const process = yield* spawnIn(ns.wan, ["python3", join(ROOT, "test", "nat", "delay-wire.py"), `w${wire.side}`, `x${wire.side}`, String(config.delayMs)])
      yield* waitLine(process, /^ready$/, 15_000)
      yield* Effect.sync(() => connectWire(ns, wire))
    }

    const turnserver = yield* spawnIn(ns.wan, [
      "turnserver", "-n", "-v",
      `--listening-ip=${SERVER_IP}`, `--relay-ip=${SERVER_IP}`, `--listening-port=${TURN_PORT}`,
      "--use-auth-secret", `--static-auth-secret=${secret}`, `--realm=${TURN_REALM}`,
      `--tls-listening-port=${TURN_TLS_PORT}`, `--cert=${certificates.cert}`, `--pkey=${certificates.key}`,
      "--no-cli", "--no-dtls", "--simple-log", "--log-file=stdout",
      // As docs/deployment.md recommends: the relay never reaches private networks. Here it also
      // matters for another reason: coturn ends the whole allocation when a send to a peer fails
      // (ENETUNREACH for a peer's 10.x host candidate, wan having no route there), while a denied
      // peer only gets its permission refused.
      "--denied-peer-ip=10.0.0.0-10.255.255.255", "--denied-peer-ip=172.16.0.0-172.31.255.255",
      "--denied-peer-ip=192.168.0.0-192.168.255.255", "--denied-peer-ip=127.0.0.0-127.255.255.255",
      `--pidfile=${join(dir, "turnserver.pid")}`, `--userdb=${join(dir, "turndb")}`,
      ...(process.env.NAT_TURN_LOG === undefined ? [] : ["-V"])
    ])
    if (process.env.NAT_TURN_LOG !== undefined) {
      yield* Effect.addFinalizer(() => Effect.sync(() => writeFileSync(process.env.NAT_TURN_LOG!, turnserver.lines.join("\n"))))
    }
    yield* waitLine(turnserver, /TCP listener opened on : 203\.0\.113\.1:3478/, 15_000)
    yield* waitLine(turnserver, /UDP listener opened on: 203\.0\.113\.1:3478/, 15_000)
    yield* waitLine(turnserver, /TLS\/TCP listener opened on : 203\.0\.113\.1:5349/, 15_000)

    const cli = (name: string, args: ReadonlyArray<string>, env: Record<string, string> = {}) =>
      spawnIn(name, [process.execPath, ...CLI, ...args], { NODE_EXTRA_CA_CERTS: certificates.ca, ...env })

    const gateway = (options: {
      readonly port: number
      readonly secret?: string
      readonly ttlSeconds?: number
      /** Which TURN URLs it hands out (default UDP and TCP). */
      readonly turn?: ReadonlyArray<"udp" | "tcp" | "tls">
      /** Whether it hands out the STUN URL (default yes). */
      readonly stun?: boolean
    }) =>
      Effect.gen(function*() {
        const process = yield* cli(ns.wan, ["gateway", "--host", SERVER_IP, "--port", String(options.port), "--data-dir", join(dir, `gateway-${options.port}`)], {
          AICONEXUS_STUN_URLS: options.stun === false ? "" : `stun:${SERVER_IP}:${TURN_PORT}`,
          AICONEXUS_TURN_URLS: (options.turn ?? ["udp", "tcp"]).map((transport) =>
            transport === "tls" ? `turns:${SERVER_IP}:${TURN_TLS_PORT}` : `turn:${SERVER_IP}:${TURN_PORT}?transport=${transport}`
          ).join(","),
          AICONEXUS_TURN_SECRET: options.secret ?? secret,
          ...(options.ttlSeconds === undefined ? {} : { AICONEXUS_TURN_TTL_SECONDS: String(options.ttlSeconds) })
        })
        return (yield* waitLine(process, /listening on (ws:\S+)/))[1]!
      })

    const delayMs = config.delayMs ?? 0
    const setNat = (side: "a" | "b", nat: "cone" | "symmetric") =>
      Effect.sync(() =>
        sh(["ip", "netns", "exec", side === "a" ? ns.ra : ns.rb, "iptables", "-t", "nat", "-R", "POSTROUTING", "1", "-o", "ext", "-j", "MASQUERADE",
          ...(nat === "symmetric" ? ["--random-fully"] : [])])
      )

    return { ns, dir, delayMs, secret, spawn: spawnIn, cli, gateway, setNat } satisfies Lab
  })

/**
 * One lab (and its gateways) for all tests of a file, built in `beforeAll` and removed in
 * `afterAll`; `get()` returns it inside the tests.
 */
export const shared = <A>(config: LabConfig, setup: (lab: Lab) => Effect.Effect<A, never, Scope.Scope>) => {
  let scope: Scope.Closeable | undefined
  let value: { readonly lab: Lab; readonly extra: A } | undefined
  return {
    start: async () => {
      scope = Effect.runSync(Scope.make())
      value = await Effect.runPromise(Effect.gen(function*() {
        const lab = yield* make(config)
        return { lab, extra: yield* setup(lab) }
      }).pipe(Scope.provide(scope)))
    },
    stop: async () => {
      if (scope !== undefined) await Effect.runPromise(Scope.close(scope, Exit.void))
    },
    get: () => value!
  }
}
