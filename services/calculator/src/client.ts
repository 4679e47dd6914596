// A calculator client calling the server at a steady rate, found through the topology's
// LookupService (never a hard-coded port), reporting every call as activity.
//
//   node --import tsx services/calculator/src/client.ts [--name calculator-client] [--rate 20] [--target calculator-server]
//
// Re-resolves the server after errors, so a restarted server (new port) is picked up.

import { createClient, ConnectError, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { controlEnv, exitWithParent, HealthState, ServiceType, TopologyReporter } from "@modular-runtime/service-kit";
import { parseFlags } from "@modular-runtime/service-kit";

const flags = parseFlags(process.argv.slice(2), { name: "calculator-client", rate: "20", target: "calculator-server" });
const rate = Number(flags.rate);
if (!Number.isFinite(rate) || rate <= 0 || rate > 100_000) {
  console.error(`--rate must be a number in (0, 100000], got ${JSON.stringify(flags.rate)}`);
  process.exit(2);
}
const env = controlEnv();
const topology = createClient(TopologyService, createGrpcTransport({ baseUrl: env.controlUrl }));
const reporter = new TopologyReporter({
  controlUrl: env.controlUrl,
  processName: env.processName,
  name: flags.name,
  type: ServiceType.CLIENT,
  dependencies: [flags.target],
  metadata: { demo: "calculator", rate: String(rate) },
});
await reporter.start();
if (env.processName) exitWithParent();

let calc: Client<typeof CalculatorService> | undefined;
let resolvedAddress = "";

async function resolve(): Promise<void> {
  try {
    const res = await topology.lookupService({ name: flags.target }, { timeoutMs: 1000 });
    const inst = res.instances.find((i) => i.address !== "");
    if (!inst) {
      calc = undefined;
      return;
    }
    if (inst.address !== resolvedAddress) {
      resolvedAddress = inst.address;
      calc = createClient(CalculatorService, createGrpcTransport({ baseUrl: `http://${inst.address}` }));
      console.log(JSON.stringify({ level: "info", msg: `calling ${flags.target} at ${inst.address}`, service: flags.name }));
    }
  } catch (err) {
    calc = undefined;
    console.log(JSON.stringify({ level: "warn", msg: `lookup of ${flags.target} failed: ${ConnectError.from(err).message}`, service: flags.name }));
  }
}

const ops = [Operation.ADD, Operation.SUBTRACT, Operation.MULTIPLY, Operation.DIVIDE];
let n = 0;
let stopped = false;

async function callOnce(): Promise<void> {
  if (!calc) return;
  const op = ops[n++ % ops.length];
  const a = n % 1000;
  const b = (n % 7) + 1;
  const started = performance.now();
  try {
    await calc.calculate({ operation: op, a, b }, { timeoutMs: 2000 });
    reporter.recordCall(flags.target, "calculator.v1.CalculatorService/Calculate", performance.now() - started, true);
    reporter.setHealth(HealthState.HEALTHY);
  } catch (err) {
    const e = ConnectError.from(err);
    reporter.recordCall(flags.target, "calculator.v1.CalculatorService/Calculate", performance.now() - started, false, 0, e.message);
    reporter.setHealth(HealthState.DEGRADED, `calls to ${flags.target} fail: ${e.message}`);
    resolvedAddress = "";
    calc = undefined;
  }
}

// Open-loop pacing: each tick fires the calls that are due, so a slow response does not slow
// the schedule down.
const intervalMs = 1000 / rate;
let next = performance.now();
async function pace(): Promise<void> {
  while (!stopped) {
    if (!calc) {
      await resolve();
      if (!calc) {
        reporter.setHealth(HealthState.DEGRADED, `${flags.target} not found`);
        await new Promise((r) => setTimeout(r, 250));
        next = performance.now();
        continue;
      }
    }
    const now = performance.now();
    while (next <= now) {
      void callOnce();
      next += intervalMs;
    }
    await new Promise((r) => setTimeout(r, Math.max(1, next - performance.now())));
  }
}
void pace();
setInterval(() => void resolve(), 5000).unref();

const shutdown = async () => {
  stopped = true;
  await reporter.stop();
  process.exit(0);
};
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
