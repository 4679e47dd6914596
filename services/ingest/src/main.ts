// The ingest stage of the split pipeline: IngestService over h2c on a loopback port, registered
// with the topology; each Run reads a file and streams it down the chain to parse.
//
//   node --import tsx services/ingest/src/main.ts [--name ingest] [--downstream parse] [--port 0] [--host 127.0.0.1]
//        [--live-dir .runtime/live] [--live-idle-ms 5000]

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { IngestService } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import {
  controlEnv,
  createLogger,
  exitWithParent,
  HealthState,
  ServiceLanguage,
  ServiceType,
  parseFlags,
  portFlag,
  TopologyReporter,
} from "@modular-runtime/service-kit";
import { LiveRuns } from "./live.js";
import { runIngest } from "./run.js";

const flags = parseFlags(process.argv.slice(2), {
  name: "ingest",
  downstream: "parse",
  port: "0",
  host: "127.0.0.1",
  "live-dir": ".runtime/live",
  "live-idle-ms": "5000",
});
const idleMs = Number(flags["live-idle-ms"]);
if (!Number.isInteger(idleMs) || idleMs < 100) {
  console.error(`--live-idle-ms must be an integer of at least 100, got ${JSON.stringify(flags["live-idle-ms"])}`);
  process.exit(2);
}
const env = controlEnv();
const log = createLogger({ service: flags.name });
const topology = createClient(TopologyService, createGrpcTransport({ baseUrl: env.controlUrl }));
let reporter: TopologyReporter | undefined;
const recordCall = (...args: Parameters<TopologyReporter["recordCall"]>) => reporter?.recordCall(...args);
const live = new LiveRuns({ topology, log, downstream: flags.downstream, liveDir: resolve(flags["live-dir"]), idleMs, recordCall });

const server = http2.createServer(
  connectNodeAdapter({
    readMaxBytes: 64 * 1024 * 1024,
    writeMaxBytes: 64 * 1024 * 1024,
    routes: (router) =>
      router.service(IngestService, {
        run: (req, ctx) =>
          runIngest(req, { topology, log, downstream: flags.downstream, recordCall }, ctx.signal),
        publish: (req) => live.publish(req),
      }),
  }),
);
server.listen(portFlag(flags.port), flags.host);
await once(server, "listening");
const { port } = server.address() as AddressInfo;

reporter = new TopologyReporter({
  controlUrl: env.controlUrl,
  processName: env.processName,
  name: flags.name,
  type: ServiceType.HYBRID,
  language: ServiceLanguage.TYPESCRIPT,
  address: `${flags.host}:${port}`,
  dependencies: [flags.downstream],
  metadata: { pipeline: "split", stage: "ingest" },
  log: (m) => log.info(m),
});
await reporter.start();
reporter.setHealth(HealthState.HEALTHY);
log.info(`serving IngestService on ${flags.host}:${port}`);

if (env.processName) exitWithParent();
const shutdown = async () => {
  await live.close();
  await reporter?.stop();
  server.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
