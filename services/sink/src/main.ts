// The sink stage of the split pipeline: SinkService over h2c on a loopback port, registered
// with the topology; aggregate streams each run to it, and it writes the run's three files.
//
//   node --import tsx services/sink/src/main.ts [--name sink] [--port 0] [--host 127.0.0.1]

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { SinkService } from "@modular-runtime/proto/pipeline/v1/pipeline";
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
import { sinkRun } from "./sink.js";

const flags = parseFlags(process.argv.slice(2), { name: "sink", port: "0", host: "127.0.0.1" });
const env = controlEnv();
const log = createLogger({ service: flags.name });

const server = http2.createServer(
  connectNodeAdapter({
    readMaxBytes: 64 * 1024 * 1024,
    writeMaxBytes: 64 * 1024 * 1024,
    routes: (router) =>
      router.service(SinkService, {
        process: (requests) => sinkRun(requests, log),
      }),
  }),
);
server.listen(portFlag(flags.port), flags.host);
await once(server, "listening");
const { port } = server.address() as AddressInfo;

const reporter = new TopologyReporter({
  controlUrl: env.controlUrl,
  processName: env.processName,
  name: flags.name,
  type: ServiceType.HYBRID,
  language: ServiceLanguage.TYPESCRIPT,
  address: `${flags.host}:${port}`,
  metadata: { pipeline: "split", stage: "sink" },
  log: (m) => log.info(m),
});
await reporter.start();
reporter.setHealth(HealthState.HEALTHY);
log.info(`serving SinkService on ${flags.host}:${port}`);

if (env.processName) exitWithParent();
const shutdown = async () => {
  await reporter.stop();
  server.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
