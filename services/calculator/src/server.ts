// The calculator demo server: CalculatorService over h2c on an ephemeral loopback port,
// registered with the topology so clients can find it by name.
//
//   node --import tsx services/calculator/src/server.ts [--name calculator-server] [--port 0]
//
// Prints its address and registration; runs until SIGTERM/SIGINT.

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CalculatorService } from "@modular-runtime/proto/calculator/v1/calculator";
import { controlEnv, exitWithParent, HealthState, ServiceType, TopologyReporter } from "@modular-runtime/service-kit";
import { createCalculatorService } from "./calculator-service.js";
import { parseFlags } from "@modular-runtime/service-kit";

const flags = parseFlags(process.argv.slice(2), { name: "calculator-server", port: "0", host: "127.0.0.1" });
const env = controlEnv();

const server = http2.createServer(
  connectNodeAdapter({ routes: (router) => router.service(CalculatorService, createCalculatorService()) }),
);
server.listen(Number(flags.port), flags.host);
await once(server, "listening");
const { port } = server.address() as AddressInfo;

const reporter = new TopologyReporter({
  controlUrl: env.controlUrl,
  processName: env.processName,
  name: flags.name,
  type: ServiceType.SERVER,
  address: `${flags.host}:${port}`,
  metadata: { demo: "calculator" },
});
await reporter.start();
reporter.setHealth(HealthState.HEALTHY);
console.log(JSON.stringify({ level: "info", msg: `serving CalculatorService on ${flags.host}:${port}`, service: flags.name }));

if (env.processName) exitWithParent();
const shutdown = async () => {
  await reporter.stop();
  server.close();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
