// The ingest stage of the split pipeline: IngestService over h2c on a loopback port, registered
// with the topology; each Run reads a file and streams it down the chain to parse, and Publish
// feeds lines into the live run.
//
//   node --import tsx services/ingest/src/main.ts [--name ingest] [--downstream parse] [--port 0] [--host 127.0.0.1]
//        [--live-dir .runtime/live] [--live-idle-ms 5000]

import { resolve } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { IngestService } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { controlEnv, createLogger, parseFlags, portFlag, serveService, type TopologyReporter } from "@modular-runtime/service-kit";
import { LiveRuns } from "./live.js";
import { runIngest } from "./run.js";
import { sweepStaleRings } from "./shm-ring.js";

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
const log = createLogger({ service: flags.name });
const swept = sweepStaleRings();
if (swept.length) log.info(`removed ${swept.length} shared-memory ring(s) left by ingest processes that are gone`, { paths: swept });
const topology = createClient(TopologyService, createGrpcTransport({ baseUrl: controlEnv().controlUrl }));
let reporter: TopologyReporter | undefined;
const recordCall = (...args: Parameters<TopologyReporter["recordCall"]>) => reporter?.recordCall(...args);
const live = new LiveRuns({ topology, log, downstream: flags.downstream, liveDir: resolve(flags["live-dir"]), idleMs, recordCall });

reporter = await serveService({
  name: flags.name,
  host: flags.host,
  port: portFlag(flags.port),
  serving: "IngestService",
  routes: (router) =>
    router.service(IngestService, {
      run: (req, ctx) => runIngest(req, { topology, log, downstream: flags.downstream, recordCall }, ctx.signal),
      publish: (req) => live.publish(req),
    }),
  dependencies: [flags.downstream],
  metadata: { pipeline: "split", stage: "ingest" },
  log,
  onShutdown: () => live.close(),
});
