/**
 * The page `aiconexus gateway --web` serves: this tab becomes an agent (its DID kept in IndexedDB),
 * lists the agents it discovers with the state and set-up time of its connection to each, sends
 * INTENTs, calls capabilities and shows the answers. Plain DOM, built into `page.js` by
 * `scripts/browserBundle.ts`.
 *
 * The gateway is the one that served the page (`/ws` on its host) unless `?gateway=ws://…` says
 * otherwise.
 *
 * @since 0.1.0
 */
import { Context, Effect, Layer, Scope, Stream } from "effect"
import type { PeerSession } from "../../agent/Agent.ts"
import type { PeerEntry } from "../../protocol/Envelope.ts"
import { Agent, BrowserAgent, GatewayClient } from "../index.ts"

const element = <E extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as E
const text = (id: string, value: string) => void (element(id).textContent = value)

// Peers can send INTENTs at any rate: the page keeps the newest lines only.
const LOG_LINES = 200

const log = (line: string) => {
  const entry = document.createElement("div")
  entry.textContent = `${new Date().toLocaleTimeString()} ${line}`
  const lines = element("log")
  lines.prepend(entry)
  while (lines.childElementCount > LOG_LINES) lines.lastElementChild!.remove()
}

const short = (did: string) => `${did.slice(0, 16)}…${did.slice(-6)}`

interface Row {
  readonly entry: PeerEntry
  state: string
  timing: string
  session: PeerSession | undefined
}

const gatewayUrl = new URLSearchParams(location.search).get("gateway") ?? BrowserAgent.gatewayUrlOf(location.href)

const program = Effect.gen(function*() {
  text("gateway", gatewayUrl)
  const scope = yield* Effect.scope
  const context = yield* Layer.build(BrowserAgent.layer({
    urls: [gatewayUrl],
    name: "browser tab",
    // A page served over http from another machine talks to its gateway over ws://.
    allowInsecure: location.protocol === "http:",
    serve: [{
      capability: { id: "tab.echo", name: "echo from a browser tab" },
      handler: (args) => Effect.succeed({ echoed: args, from: "browser tab" })
    }]
  }))
  const agent = Context.get(context, Agent)
  const client = Context.get(context, GatewayClient)
  text("did", agent.did)
  const rows = new Map<string, Row>()

  const render = () => {
    const body = element("agents")
    body.replaceChildren()
    if (rows.size === 0) body.innerHTML = `<tr><td colspan="4">none yet</td></tr>`
    for (const [did, row] of rows) {
      const tr = document.createElement("tr")
      tr.dataset["did"] = did
      const name = document.createElement("td")
      name.innerHTML = `<div>${row.entry.name ?? ""}</div><div class="did"></div>`
      name.querySelector(".did")!.textContent = did
      const capabilities = document.createElement("td")
      capabilities.textContent = row.entry.capabilities.map((c) => c.id).join(", ")
      const state = document.createElement("td")
      state.className = `state-${row.state}`
      state.dataset["testid"] = "state"
      state.textContent = `${row.state}${row.timing === "" ? "" : ` (${row.timing})`}`
      const action = document.createElement("td")
      const button = document.createElement("button")
      button.textContent = row.session === undefined ? "Connect" : "Connected"
      button.disabled = row.session !== undefined || row.state === "connecting"
      button.dataset["testid"] = "connect"
      button.onclick = () => void Effect.runFork(connect(did))
      action.append(button)
      tr.append(name, capabilities, state, action)
      body.append(tr)
    }
    const peer = element<HTMLSelectElement>("peer")
    const selected = peer.value
    peer.replaceChildren(...[...rows].filter(([, row]) => row.session !== undefined).map(([did, row]) => new Option(`${row.entry.name ?? "agent"} ${short(did)}`, did)))
    if (selected !== "" && rows.get(selected)?.session !== undefined) peer.value = selected
    renderCapabilities()
  }
  const renderCapabilities = () => {
    const row = rows.get(element<HTMLSelectElement>("peer").value)
    const capability = element<HTMLSelectElement>("capability")
    const selected = capability.value
    capability.replaceChildren(...(row?.entry.capabilities ?? []).map((c) => new Option(c.name === undefined ? c.id : `${c.id} (${c.name})`, c.id)))
    if ([...capability.options].some((o) => o.value === selected)) capability.value = selected
  }
  element("peer").onchange = renderCapabilities

  /** Follows a session: its connection state into its row, its INTENTs into the log. */
  const follow = (session: PeerSession) =>
    Effect.gen(function*() {
      const row = rows.get(session.remote) ?? { entry: { did: session.remote, capabilities: [], connected_at: "" }, state: "new", timing: "", session }
      row.session = session
      rows.set(session.remote, row)
      render()
      yield* Effect.forkIn(Stream.runForEach(session.link.peer.connection.changes, (state) =>
        Effect.sync(() => {
          row.state = state
          log(`${short(session.remote)}: connection ${state}`)
          render()
        })), scope)
      yield* Effect.forkIn(Stream.runForEach(session.intents, (intent) =>
        Effect.sync(() => log(`INTENT from ${short(session.remote)}: ${JSON.stringify(intent)}`))), scope)
      yield* Effect.forkIn(Effect.andThen(session.ended, Effect.sync(() => {
        row.session = undefined
        row.state = "closed"
        render()
      })), scope)
    })

  const connect = (did: string) =>
    Effect.gen(function*() {
      const row = rows.get(did)
      if (row === undefined) return
      row.state = "connecting"
      row.timing = ""
      render()
      const started = performance.now()
      const session = yield* agent.connect(did as never).pipe(Scope.provide(scope))
      row.timing = `set up in ${Math.round(performance.now() - started)} ms`
      log(`connected to ${short(did)} ${row.timing}`)
      yield* follow(session)
      element<HTMLSelectElement>("peer").value = did
      renderCapabilities()
    }).pipe(Effect.catch((error) => Effect.sync(() => {
      const row = rows.get(did)
      if (row !== undefined) row.state = "failed"
      log(`connecting to ${short(did)} failed: ${error.message}`)
      render()
    })))

  const discover = Effect.gen(function*() {
    const found = yield* agent.discover({ limit: 100 })
    // Agents that left and have no session with this tab leave the list.
    const present = new Set(found.map((entry) => entry.did as string))
    for (const [did, row] of rows) if (!present.has(did) && row.session === undefined) rows.delete(did)
    for (const entry of found) {
      const row = rows.get(entry.did)
      if (row === undefined) rows.set(entry.did, { entry, state: "not connected", timing: "", session: undefined })
      else if (row.entry.connected_at === "") rows.set(entry.did, { ...row, entry })
    }
    render()
  }).pipe(Effect.catch((error) => Effect.sync(() => log(`discover failed: ${String(error)}`))))

  const current = () => rows.get(element<HTMLSelectElement>("peer").value)?.session

  element("send").onclick = () => {
    const session = current()
    const message = element<HTMLInputElement>("message").value
    if (session === undefined || message === "") return
    Effect.runFork(session.intent({ query: message }).pipe(
      Effect.match({
        onFailure: (error) => log(`INTENT not sent: ${error.message}`),
        onSuccess: () => log(`INTENT to ${short(session.remote)}: ${message}`)
      })
    ))
  }
  element("call").onclick = () => {
    const session = current()
    const capability = element<HTMLSelectElement>("capability").value
    if (session === undefined || capability === "") return
    let args: Record<string, unknown>
    try {
      args = JSON.parse(element<HTMLTextAreaElement>("args").value || "{}")
    } catch {
      text("answer", "the arguments are not JSON")
      return
    }
    text("answer", "…")
    const started = performance.now()
    Effect.runFork(session.request(capability, args as never).pipe(
      Effect.match({
        onFailure: (error) => {
          element("answer").className = "error"
          text("answer", error.message)
        },
        onSuccess: (result) => {
          element("answer").className = ""
          text("answer", JSON.stringify(result, null, 2))
          log(`${capability} answered in ${Math.round(performance.now() - started)} ms`)
        }
      })
    ))
  }
  element("refresh").onclick = () => void Effect.runFork(discover)

  yield* Effect.forkIn(Stream.runForEach(client.changes, (state) =>
    Effect.sync(() => text("gateway-state", state._tag.toLowerCase()))), scope)
  yield* Effect.forkIn(Stream.runForEach(agent.sessions, (session) =>
    Effect.andThen(Effect.sync(() => log(`session opened by ${short(session.remote)}`)), follow(session))), scope)
  yield* client.session
  yield* discover
  /** The round-trip time of each session's selected candidate pair, into its row. */
  const measure = Effect.forEach([...rows.values()], (row) =>
    row.session === undefined || row.state !== "connected"
      ? Effect.void
      : Effect.map(row.session.link.peer.stats, ({ selectedPair }) => {
        const rtt = selectedPair?.roundTripTimeMs
        if (rtt !== undefined) row.timing = `${row.timing.replace(/, rtt .*$/, "")}, rtt ${rtt.toFixed(1)} ms`
      }), { discard: true }).pipe(Effect.andThen(Effect.sync(render)))
  // Agents come and go: discover again every few seconds, and measure the sessions.
  yield* Effect.forkIn(Effect.forever(Effect.andThen(Effect.sleep("5 seconds"), Effect.andThen(discover, measure))), scope)
  return yield* Effect.never
})

Effect.runFork(Effect.scoped(program).pipe(
  Effect.catchCause((cause) => Effect.sync(() => {
    text("gateway-state", "stopped")
    log(`the agent stopped: ${String(cause)}`)
  }))
))
