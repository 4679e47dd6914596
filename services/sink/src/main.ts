// The sink stage of the split pipeline: SinkService over h2c on a loopback port, registered
// with the topology; aggregate streams each run to it, and it writes the run's three files.
//
//   node --import tsx services/sink/src/main.ts [--name sink] [--port 0] [--host 127.0.0.1]

import { SinkService } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { createLogger, parseFlags, portFlag, serveService } from "@modular-runtime/service-kit";
import { sinkRun } from "./sink.js";

const flags = parseFlags(process.argv.slice(2), { name: "sink", port: "0", host: "127.0.0.1" });
const log = createLogger({ service: flags.name });

await serveService({
  name: flags.name,
  host: flags.host,
  port: portFlag(flags.port),
  serving: "SinkService",
  routes: (router) => router.service(SinkService, { process: (requests) => sinkRun(requests, log) }),
  metadata: { pipeline: "split", stage: "sink" },
  log,
});
