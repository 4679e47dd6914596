// The calculator demo server: CalculatorService over h2c on an ephemeral loopback port,
// registered with the topology so clients can find it by name.
//
//   node --import tsx services/calculator/src/server.ts [--name calculator-server] [--port 0]
//
// Prints its address and registration; runs until SIGTERM/SIGINT.

import { CalculatorService } from "@modular-runtime/proto/calculator/v1/calculator";
import { createLogger, parseFlags, portFlag, serveService, ServiceType } from "@modular-runtime/service-kit";
import { createCalculatorService } from "./calculator-service.js";

const flags = parseFlags(process.argv.slice(2), { name: "calculator-server", port: "0", host: "127.0.0.1" });

await serveService({
  name: flags.name,
  host: flags.host,
  port: portFlag(flags.port),
  serving: "CalculatorService",
  routes: (router) => router.service(CalculatorService, createCalculatorService()),
  type: ServiceType.SERVER,
  metadata: { demo: "calculator" },
  log: createLogger({ service: flags.name }),
});
