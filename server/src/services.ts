// Builds the service implementations once, with their dependencies, for both listeners.

import type { ServiceImpl } from "@connectrpc/connect";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "./clock.js";
import { TopologyRegistry } from "./services/topology/registry.js";
import { createTopologyService } from "./services/topology/topology-service.js";
import type { Scheduler } from "./services/topology/topology-watcher.js";
import type { TopologyConfig } from "./config.js";

export interface ServiceContainer {
  registry: TopologyRegistry;
  topology: ServiceImpl<typeof TopologyService>;
}

export function createServices(opts: {
  clock: Clock;
  scheduler: Scheduler;
  topology: TopologyConfig;
  shutdown: AbortSignal;
}): ServiceContainer {
  const registry = new TopologyRegistry(opts.clock, opts.topology);
  return {
    registry,
    topology: createTopologyService({
      registry,
      clock: opts.clock,
      scheduler: opts.scheduler,
      shutdown: opts.shutdown,
    }),
  };
}
