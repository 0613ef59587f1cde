/**
 * The browser's handle on test/client/nodeSide.ts (chromium project only): a call runs there, in
 * Node, through the `clientTests` browser command (vitest.config.ts), and answers plain data.
 */
import { Effect, type Scope } from "effect"
import { commands } from "vitest/browser"
import type { Api } from "./nodeSide.ts"

declare module "vitest/browser" {
  interface BrowserCommands {
    clientTests: <K extends keyof Api>(name: K, ...args: Parameters<Api[K]>) => Promise<Awaited<ReturnType<Api[K]>>>
  }
}

/** Calls `name` in Node; a failure there is a defect here (the test fails with its message). */
export const call = <K extends keyof Api>(name: K, ...args: Parameters<Api[K]>): Effect.Effect<Awaited<ReturnType<Api[K]>>> =>
  Effect.promise(() => commands.clientTests(name, ...args))

/** Starts something in Node that is stopped (`stop`) when the scope closes, also on failure. */
export const acquire = <A extends { readonly id: string }>(start: Effect.Effect<A>): Effect.Effect<A, never, Scope.Scope> =>
  Effect.acquireRelease(start, (resource) => call("stop", resource.id))
