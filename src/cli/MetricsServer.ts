/**
 * A small HTTP server for an agent's metrics: `GET /metrics` in Prometheus text format
 * (`agent listen --metrics-port N`). It serves the metrics of the current `MetricRegistry`.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { Context, Effect, Layer } from "effect"
import { HttpRouter, HttpServer } from "effect/http"
import { PrometheusMetrics } from "effect/observability"

/** Serves `/metrics` on `host:port` while the scope is open; yields the URL it listens on. */
export const serve = Effect.fn("MetricsServer.serve")(function*(options: { readonly host: string; readonly port: number }) {
  const app = HttpRouter.serve(PrometheusMetrics.layerHttp().pipe(Layer.provide(HttpRouter.layer)), {
    disableLogger: true,
    disableListenLog: true
  })
  const server = NodeHttpServer.layer(createServer, { host: options.host, port: options.port })
  const context = yield* Layer.build(app.pipe(Layer.provideMerge(server)))
  const address = Context.get(context, HttpServer.HttpServer).address
  return `${HttpServer.formatAddress(address)}/metrics`
})
