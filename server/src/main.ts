// The control server's entry point.
//
//   node --import tsx server/src/main.ts [--config runtime.yaml] [--http-port 3000] [--h2c-port 3001]
//
// Serves the dashboard and the Connect API on http://127.0.0.1:3000 (HTTP/1.1), gRPC/Connect for
// services on h2c :3001, and starts every process of the config file. Ctrl-C reverts chaos
// faults, stops the children, then the listeners.

import type { AddressInfo } from "node:net";
import { once, setMaxListeners } from "node:events";
import { buildApp } from "./app.js";
import { systemClock } from "./clock.js";
import { ConfigError, isLoopbackHost, loadConfig } from "./config.js";
import { allServices } from "./connect.js";
import { createH2cServer } from "./h2c.js";
import { allowDashboardPort, buildPolicy } from "./security.js";
import { createServices } from "./services.js";
import { systemScheduler } from "./services/topology/topology-watcher.js";
import { LogFiles } from "./services/logger/log-files.js";
import { LogStore } from "./services/logger/log-store.js";
import { ProcSampler } from "./supervisor/proc-sampler.js";
import { ProcessSpawner } from "./supervisor/process-spawner.js";

interface Args {
  config: string;
  httpPort?: number;
  h2cPort?: number;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { config: "runtime.yaml" };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) fail(`${a} needs a value`);
      return v;
    };
    const port = () => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 65535) fail(`${a} must be a port number, got ${JSON.stringify(v)}`);
      return n;
    };
    if (a === "--config") args.config = value();
    else if (a === "--http-port") args.httpPort = port();
    else if (a === "--h2c-port") args.h2cPort = port();
    else if (a === "--help" || a === "-h") {
      console.log("usage: main.ts [--config runtime.yaml] [--http-port N] [--h2c-port N]");
      process.exit(0);
    } else fail(`unknown argument ${JSON.stringify(a)}`);
  }
  return args;
}

function fail(message: string): never {
  console.error(`control-server: ${message}`);
  process.exit(2);
}

async function listenOrExplain(what: string, port: number, listen: () => Promise<void>): Promise<void> {
  try {
    await listen();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "EADDRINUSE") {
      fail(
        `${what} port ${port} is already in use (another modular-runtime still running? \`lsof -i :${port}\` or \`fuser -k ${port}/tcp\` frees it), ` +
          `or pick another port with --http-port / --h2c-port or in runtime.yaml`,
      );
    }
    if (code === "EACCES") fail(`${what} port ${port} needs privileges; choose a port above 1023`);
    throw err;
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  let config;
  try {
    config = loadConfig(args.config);
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message);
    throw err;
  }
  if (args.httpPort !== undefined) config.server.httpPort = args.httpPort;
  if (args.h2cPort !== undefined) config.server.h2cPort = args.h2cPort;
  if (!isLoopbackHost(config.server.h2cHost)) {
    fail(`server.h2cHost ${config.server.h2cHost} is beyond loopback; the service port is loopback-only for now`);
  }

  const shutdown = new AbortController();
  // Every open stream (dashboards, watchers) listens for shutdown: many are expected.
  setMaxListeners(10_000, shutdown.signal);
  const logStore = new LogStore({
    clock: systemClock,
    scheduler: systemScheduler,
    capacity: config.logs.capacity,
    maxMessageChars: config.logs.maxMessageChars,
    rateLimit: { perSecond: config.logs.ratePerSecond, burst: config.logs.burst },
    files: new LogFiles({ dir: config.logs.dir, maxFileBytes: config.logs.maxFileBytes, maxFiles: config.logs.maxFiles }),
  });
  const spawner = new ProcessSpawner();
  let httpUrl: string | undefined;
  const services = createServices({
    bench: { dir: config.bench.dir, controlUrl: () => httpUrl, controlToken: config.server.controlToken },
    clock: systemClock,
    scheduler: systemScheduler,
    topology: config.topology,
    shutdown: shutdown.signal,
    processes: config.processes,
    spawner,
    logStore,
    // Children's output goes to the log (the Logs panel), not to this terminal.
    onLine: (name, stream, line) => logStore.ingestLine(name, stream, line),
    onEvent: (name, text, level) => {
      logStore.marker(name, text, level);
      console.log(`[supervisor] ${text}`);
    },
  });
  const supervisor = services.supervisor;
  const policy = buildPolicy({ ...config.server, services: allServices });
  const app = await buildApp({ services, policy, webDir: config.server.webDir });
  const h2c = createH2cServer(services, policy, shutdown.signal);

  await listenOrExplain("HTTP", config.server.httpPort, async () => {
    await app.listen({ host: config.server.host, port: config.server.httpPort });
  });
  await listenOrExplain("h2c", config.server.h2cPort, async () => {
    h2c.listen(config.server.h2cPort, config.server.h2cHost);
    await Promise.race([once(h2c, "listening"), once(h2c, "error").then(([e]) => Promise.reject(e))]);
  });
  const httpPort = (app.server.address() as AddressInfo).port;
  allowDashboardPort(policy, httpPort);
  httpUrl = `http://127.0.0.1:${httpPort}`;
  const h2cPort = (h2c.address() as AddressInfo).port;

  const ticker = setInterval(() => services.registry.tick(), 100);
  supervisor.setEnv({
    MR_CONTROL_URL: `http://127.0.0.1:${h2cPort}`,
    MR_CONTROL_HTTP_URL: `http://127.0.0.1:${httpPort}`,
    ...(config.server.controlToken ? { MR_CONTROL_TOKEN: config.server.controlToken } : {}),
  });
  const sampler = new ProcSampler();
  const sampling = setInterval(() => {
    for (const [name, sample] of sampler.sample(supervisor.runningPids())) supervisor.updateSample(name, sample);
  }, 1000);
  supervisor.startAll();

  const display = config.server.host === "127.0.0.1" ? "localhost" : config.server.host;
  console.log(`modular-runtime control server`);
  console.log(`  dashboard + Connect/gRPC-Web  http://${display}:${httpPort}`);
  console.log(`  gRPC/Connect h2c (services)   http://127.0.0.1:${h2cPort}`);
  console.log(`  processes: ${config.processes.map((p) => p.name).join(", ") || "(none)"}`);
  console.log(`  logs: ${config.logs.dir} (their output is in the dashboard's Logs panel)`);

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    console.log(`[control-server] ${signal}: stopping processes, then listeners`);
    const force = setTimeout(() => {
      console.error("[control-server] shutdown took too long; exiting");
      process.exit(1);
    }, 20_000);
    force.unref();
    services.benchRunner.stop();
    // Faults first (hogs killed, proxies closed), so nothing of them outlives the children.
    await services.stopChaos();
    await supervisor.stopAll();
    spawner.close();
    logStore.close();
    clearInterval(ticker);
    clearInterval(sampling);
    shutdown.abort();
    h2c.close();
    await app.close();
    console.log("[control-server] stopped");
    process.exit(0);
  };
  process.on("SIGINT", () => void stop("SIGINT"));
  process.on("SIGTERM", () => void stop("SIGTERM"));
}

main().catch((err) => {
  console.error("control-server: fatal:", err);
  process.exit(1);
});
