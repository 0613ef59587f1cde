/**
 * A small HTTP server for an agent's metrics: `GET /metrics` in Prometheus text format
 * (`agent listen --metrics-port N`). It serves the metrics of the current `MetricRegistry`.
 *
 * @since 0.1.0
 */
import { createServer } from "node:http"
import { NodeHttpServer } from "@effect/platform-node"
import { Effect, Layer } from "effect"
import { HttpRouter, HttpServer, HttpServerResponse } from "effect/http"
import { PrometheusMetrics } from "effect/observability"

/** Serves `/metrics` on `host:port` while the scope is open; yields the URL it listens on. */
export const serve = (options: { readonly host: string; readonly port: number }) =>
  Effect.gen(function*() {
    const routes = Layer.effectDiscard(Effect.gen(function*() {
      const router = yield* HttpRouter.HttpRouter
      yield* router.add("GET", "/metrics", Effect.map(PrometheusMetrics.format(), (text) =>
        HttpServerResponse.text(text, { contentType: "text/plain; version=0.0.4" })))
    }))
    const app = HttpRouter.serve(routes.pipe(Layer.provide(HttpRouter.layer)), { disableLogger: true, disableListenLog: true })
    const server = NodeHttpServer.layer(createServer, { host: options.host, port: options.port })
    const context = yield* Layer.build(app.pipe(Layer.provideMerge(server)))
    const address = yield* HttpServer.HttpServer.pipe(Effect.provide(context))
    return `${HttpServer.formatAddress(address.address)}/metrics`
  })
