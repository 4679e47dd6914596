// Builds the service implementations once, with their dependencies, for both listeners.

import type { ServiceImpl } from "@connectrpc/connect";
import type { BenchmarkService } from "@modular-runtime/proto/runtime/v1/benchmark";
import type { LoadGeneratorService } from "@modular-runtime/proto/runtime/v1/load";
import type { LoggerService } from "@modular-runtime/proto/runtime/v1/logger";
import type { SupervisorService } from "@modular-runtime/proto/runtime/v1/supervisor";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "./clock.js";
import type { ProcessConfig, TopologyConfig } from "./config.js";
import { BenchRunner } from "./services/benchmark/bench-runner.js";
import { createBenchmarkService } from "./services/benchmark/benchmark-service.js";
import { createLoadGeneratorService } from "./services/load/load-service.js";
import { createLoggerService } from "./services/logger/logger-service.js";
import { LogStore } from "./services/logger/log-store.js";
import { createChaosService } from "./services/chaos/chaos-service.js";
import type { ChaosService } from "@modular-runtime/proto/runtime/v1/chaos";
import { FaultRegistry, type HogLauncher } from "./services/chaos/fault-registry.js";
import { spawnerHogLauncher } from "./services/chaos/hog-launcher.js";
import { ProxyManager } from "./services/chaos/proxy-manager.js";
import { createSupervisorService } from "./services/supervisor/supervisor-service.js";
import { TopologyRegistry } from "./services/topology/registry.js";
import { createTopologyService } from "./services/topology/topology-service.js";
import type { Scheduler } from "./services/topology/topology-watcher.js";
import { Supervisor, type Spawner } from "./supervisor/supervisor.js";

export interface ServiceContainer {
  registry: TopologyRegistry;
  supervisor: Supervisor;
  topology: ServiceImpl<typeof TopologyService>;
  supervisorService: ServiceImpl<typeof SupervisorService>;
  logStore: LogStore;
  logger: ServiceImpl<typeof LoggerService>;
  load: ServiceImpl<typeof LoadGeneratorService>;
  benchmark: ServiceImpl<typeof BenchmarkService>;
  benchRunner: BenchRunner;
  faults: FaultRegistry;
  proxies: ProxyManager;
  chaos: ServiceImpl<typeof ChaosService>;
  /** Reverts every fault and closes the fault proxies (also done when `shutdown` aborts). */
  stopChaos(): Promise<void>;
}

export interface ServiceOptions {
  clock: Clock;
  scheduler: Scheduler;
  topology: TopologyConfig;
  shutdown: AbortSignal;
  processes?: ProcessConfig[];
  spawner?: Spawner;
  random?: () => number;
  /** The log (built by main.ts with its persistence directory); in memory when absent. */
  logStore?: LogStore;
  /** Where children's output lines and lifecycle markers go. */
  onLine?(name: string, stream: "stdout" | "stderr", line: string): void;
  onEvent?(name: string, text: string, level: "info" | "warn" | "error"): void;
  /** The benchmark's directory and this server's HTTP URL (for the split's stages). */
  bench?: { dir: string; controlUrl: () => string | undefined; controlToken?: string };
}

const noHogs: HogLauncher = {
  start() {
    throw new Error("this control server has no process spawner");
  },
};

const noSpawner: Spawner = {
  spawn(cfg) {
    throw new Error(`no spawner configured, cannot start ${cfg.name}`);
  },
};

export function createServices(opts: ServiceOptions): ServiceContainer {
  const registry = new TopologyRegistry(opts.clock, opts.topology);
  const listeners = new Set<() => void>();
  const supervisor = new Supervisor(opts.processes ?? [], {
    spawner: opts.spawner ?? noSpawner,
    clock: opts.clock,
    scheduler: opts.scheduler,
    random: opts.random ?? Math.random,
    env: {},
    // A crash is not a hang: the topology hears about an exit at once.
    onExit: (name, detail) => registry.markProcessExited(name, detail),
    onLine: opts.onLine,
    onEvent: opts.onEvent,
    onChange: () => {
      for (const l of listeners) l();
    },
  });
  registry.setRestartCounter((processName) => supervisor.restartCount(processName));
  const logStore = opts.logStore ?? new LogStore({ clock: opts.clock, scheduler: opts.scheduler });
  const benchRunner = new BenchRunner({
    dir: opts.bench?.dir ?? ".runtime/bench",
    controlUrl: opts.bench?.controlUrl ?? (() => undefined),
    env: opts.bench?.controlToken ? { MR_CONTROL_TOKEN: opts.bench.controlToken } : {},
    // The bench's progress lines show in the Logs panel as the process "benchmark".
    onLine: (line) => opts.onLine?.("benchmark", "stderr", line),
  });
  const processes = opts.processes ?? [];
  const faults = new FaultRegistry({
    clock: opts.clock,
    scheduler: opts.scheduler,
    processes,
    crash: (name) => supervisor.kill(name, "SIGKILL"),
    hogs: opts.spawner ? spawnerHogLauncher(opts.spawner, (name, line) => opts.onLine?.(name, "stderr", line)) : noHogs,
    onEvent: opts.onEvent,
  });
  const proxied = new Set(processes.filter((p) => p.faultProxy).map((p) => p.name));
  const proxies = new ProxyManager({
    registry,
    proxied: (name) => proxied.has(name),
    faults: (name) => faults.netFaults(name),
    onEvent: opts.onEvent,
    random: opts.random,
  });
  let chaosStopped: Promise<void> | undefined;
  const stopChaos = () => {
    chaosStopped ??= (async () => {
      faults.close();
      await proxies.close();
    })();
    return chaosStopped;
  };
  // Faults never outlive the control server, whoever stops it.
  opts.shutdown.addEventListener("abort", () => void stopChaos(), { once: true });
  return {
    benchRunner,
    faults,
    proxies,
    chaos: createChaosService({ faults, shutdown: opts.shutdown }),
    stopChaos,
    benchmark: createBenchmarkService({ runner: benchRunner, shutdown: opts.shutdown }),
    logStore,
    logger: createLoggerService({ store: logStore, clock: opts.clock, shutdown: opts.shutdown }),
    registry,
    supervisor,
    load: createLoadGeneratorService({ registry, clock: opts.clock, scheduler: opts.scheduler, shutdown: opts.shutdown }),
    topology: createTopologyService({
      registry,
      clock: opts.clock,
      scheduler: opts.scheduler,
      shutdown: opts.shutdown,
      addressesReady: () => proxies.ready(),
    }),
    supervisorService: createSupervisorService({
      supervisor,
      subscribe: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      scheduler: opts.scheduler,
      shutdown: opts.shutdown,
    }),
  };
}
