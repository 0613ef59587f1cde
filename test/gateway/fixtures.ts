/**
 * Gateways for tests: in-memory, on a random loopback port, with a fresh data directory.
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as GatewayConfig from "../../src/gateway/GatewayConfig.ts"

/** A configuration on 127.0.0.1 with a random port and a new data directory. */
export const testConfig = (overrides: Partial<GatewayConfig.GatewayConfig> = {}): GatewayConfig.GatewayConfig =>
  GatewayConfig.make({
    host: "127.0.0.1",
    port: 0,
    dataDir: mkdtempSync(join(tmpdir(), "aiconexus-gateway-")),
    ...overrides
  })
