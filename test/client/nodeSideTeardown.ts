/**
 * Global setup of the chromium project: at the end of the run, closes whatever gateway, fake
 * gateway or gateway process test/client/nodeSide.ts still holds (a test that crashed or timed out
 * before its finalizers ran). Reads nodeSide's registry from `globalThis` rather than importing it:
 * this module is loaded by Vite, nodeSide by Node itself.
 */
export default function setup(): () => Promise<void> {
  return async () => {
    const resources = (globalThis as { [key: symbol]: unknown })[Symbol.for("aiconexus.test.nodeSide")] as
      | Map<string, { readonly close: () => Promise<void> }>
      | undefined
    if (resources === undefined || resources.size === 0) return
    const left = [...resources.values()]
    resources.clear()
    await Promise.allSettled(left.map((resource) => resource.close()))
    console.warn(`closed ${left.length} resource(s) (gateways, processes, folders) the Chromium client tests left open`)
  }
}
