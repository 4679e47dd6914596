// Starts a real control server (both listeners on ephemeral loopback ports) for tests.

import { readFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { once, setMaxListeners } from "node:events";
import { buildApp } from "../src/app.js";
import { systemClock } from "../src/clock.js";
import { allServices } from "../src/connect.js";
import { createH2cServer } from "../src/h2c.js";
import { allowDashboardPort, buildPolicy } from "../src/security.js";
import { createServices } from "../src/services.js";
import { systemScheduler } from "../src/services/topology/topology-watcher.js";
import type { ProcessConfig, TopologyConfig } from "../src/config.js";
import { ProcessSpawner } from "../src/supervisor/process-spawner.js";

/** Whether process `pid` exists and is not a zombie (its /proc state is not Z). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export interface TestServer {
  httpUrl: string;
  h2cUrl: string;
  httpPort: number;
  services: ReturnType<typeof createServices>;
  close(): Promise<void>;
}

export async function startTestServer(
  opts: {
    topology?: Partial<TopologyConfig>;
    controlToken?: string;
    shareToken?: string;
    allowedOrigins?: string[];
    benchDir?: string;
    /** Processes of the "config file"; real children (started when autostart) via a real spawner. */
    processes?: ProcessConfig[];
  } = {},
): Promise<TestServer> {
  const shutdown = new AbortController();
  setMaxListeners(10_000, shutdown.signal);
  const topology: TopologyConfig = {
    heartbeatIntervalMs: 5000,
    staleMultiplier: 2,
    deadMultiplier: 3,
    activeWindowMs: 3000,
    deadLingerMs: 3000,
    ...opts.topology,
  };
  let httpUrl: string | undefined;
  const spawner = opts.processes ? new ProcessSpawner() : undefined;
  const services = createServices({
    processes: opts.processes,
    spawner,
    clock: systemClock,
    scheduler: systemScheduler,
    topology,
    shutdown: shutdown.signal,
    bench: opts.benchDir ? { dir: opts.benchDir, controlUrl: () => httpUrl, controlToken: opts.controlToken } : undefined,
  });
  const policy = buildPolicy({
    allowedHosts: [],
    allowedOrigins: opts.allowedOrigins ?? [],
    controlToken: opts.controlToken ?? "",
    shareToken: opts.shareToken ?? "",
    services: allServices,
  });
  const app = await buildApp({ services, policy, webDir: "/nonexistent" });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const httpPort = (app.server.address() as AddressInfo).port;
  allowDashboardPort(policy, httpPort);
  httpUrl = `http://127.0.0.1:${httpPort}`;
  const h2c = createH2cServer(services, policy, shutdown.signal);
  h2c.listen(0, "127.0.0.1");
  await once(h2c, "listening");
  const h2cPort = (h2c.address() as AddressInfo).port;
  const ticker = setInterval(() => services.registry.tick(), 50);
  if (opts.processes) {
    services.supervisor.setEnv({ MR_CONTROL_URL: `http://127.0.0.1:${h2cPort}`, MR_CONTROL_HTTP_URL: httpUrl });
    services.supervisor.startAll();
  }
  return {
    httpUrl: `http://127.0.0.1:${httpPort}`,
    h2cUrl: `http://127.0.0.1:${h2cPort}`,
    httpPort,
    services,
    async close() {
      clearInterval(ticker);
      // As main.ts does: faults revert, children stop, then the listeners close.
      await services.stopChaos();
      await services.supervisor.stopAll();
      spawner?.close();
      shutdown.abort();
      h2c.close();
      await app.close();
    },
  };
}
