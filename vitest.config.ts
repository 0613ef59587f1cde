import { defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // A temporary HOME for the whole run (and the processes it starts): see test/isolatedHome.ts.
    globalSetup: ["test/isolatedHome.ts"],
    testTimeout: 30_000,
    hookTimeout: 30_000
  }
})
