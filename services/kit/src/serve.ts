// What every TypeScript service's entry point does: serve Connect/gRPC routes over h2c on a
// loopback port, register with the topology (heartbeats, activity), say where it listens, and
// stop cleanly on SIGTERM/SIGINT (unregister first) or when the supervising control server dies.

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import type { ConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import type { Logger } from "./logger.js";
import { controlEnv, exitWithParent, HealthState, ServiceLanguage, ServiceType, TopologyReporter } from "./topology-reporter.js";

export interface ServeOptions {
  /** Name on the topology. */
  name: string;
  host: string;
  port: number;
  /** The Connect routes, e.g. `(router) => router.service(SinkService, impl)`. */
  routes: (router: ConnectRouter) => void;
  /** What the startup log line says is served, e.g. "SinkService". */
  serving: string;
  type?: ServiceType;
  dependencies?: string[];
  metadata?: Record<string, string>;
  /** Largest message accepted or sent (default 64 MiB). */
  maxMessageBytes?: number;
  log: Logger;
  /** Runs before unregistering on a graceful stop. */
  onShutdown?: () => Promise<void>;
}

const STREAM_WINDOW = 8 << 20;
const CONNECTION_WINDOW = 16 << 20;

/** Listens, registers and installs the stop handlers; resolves with the running reporter. */
export async function serveService(opts: ServeOptions): Promise<TopologyReporter> {
  const env = controlEnv();
  const max = opts.maxMessageBytes ?? 64 * 1024 * 1024;
  // HTTP/2's default windows (64 KiB per stream and per connection) let a sender have only 64 KiB
  // in flight: a 2.5 MB message (e.g. a run's results to the sink) then waits for ~40
  // WINDOW_UPDATE round trips through this event loop. Received data is bounded by the windows.
  const server = http2.createServer(
    { settings: { initialWindowSize: STREAM_WINDOW } },
    connectNodeAdapter({ readMaxBytes: max, writeMaxBytes: max, routes: opts.routes }),
  );
  server.on("session", (s) => s.setLocalWindowSize(CONNECTION_WINDOW));
  server.listen(opts.port, opts.host);
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;

  const reporter = new TopologyReporter({
    controlUrl: env.controlUrl,
    processName: env.processName,
    name: opts.name,
    type: opts.type ?? ServiceType.HYBRID,
    language: ServiceLanguage.TYPESCRIPT,
    address: `${opts.host}:${port}`,
    dependencies: opts.dependencies,
    metadata: opts.metadata,
    log: (m) => opts.log.info(m),
  });
  await reporter.start();
  reporter.setHealth(HealthState.HEALTHY);
  opts.log.info(`serving ${opts.serving} on ${opts.host}:${port}`);

  if (env.processName) exitWithParent();
  const shutdown = async () => {
    await opts.onShutdown?.();
    await reporter.stop();
    server.close();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown());
  process.on("SIGINT", () => void shutdown());
  return reporter;
}
