// The TopologyService implementation: thin RPC glue over the registry.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  HeartbeatResponseSchema,
  LookupServiceResponseSchema,
  ReportActivityResponseSchema,
  SendHeartbeatResponseSchema,
  TopologySnapshotSchema,
  UnregisterServiceResponseSchema,
  type TopologyService,
  type TopologyUpdate,
} from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "../../clock.js";
import type { TopologyRegistry } from "./registry.js";
import { fullSnapshot, TopologyWatcher, type Scheduler } from "./topology-watcher.js";

export interface TopologyServiceDeps {
  registry: TopologyRegistry;
  clock: Clock;
  scheduler: Scheduler;
  /** Aborted when the server shuts down: ends every WatchTopology stream. */
  shutdown: AbortSignal;
  /** Metric coalescing interval for watchers. */
  watchCoalesceMs?: number;
  /**
   * Resolves once lookups give final addresses (fault proxies being started listen): awaited
   * before a registration is answered and before a lookup, so no caller bypasses a proxy.
   */
  addressesReady?: () => Promise<void>;
}

const MAX_ACTIVITY_EVENTS = 10_000;

function requireInstanceId(id: string): void {
  if (id === "") throw new ConnectError("instance_id is required", Code.InvalidArgument);
}

export function createTopologyService(deps: TopologyServiceDeps): ServiceImpl<typeof TopologyService> {
  const { registry, clock } = deps;
  return {
    async registerService(req) {
      const handle = registry.register(req);
      await deps.addressesReady?.();
      return handle;
    },

    async *heartbeat(requests) {
      for await (const req of requests) {
        requireInstanceId(req.instanceId);
        registry.heartbeat(req.instanceId, req.sequence, req.metrics, req.health);
        yield create(HeartbeatResponseSchema, { sequence: req.sequence, acknowledged: true });
      }
    },

    sendHeartbeat(req) {
      requireInstanceId(req.instanceId);
      registry.heartbeat(req.instanceId, req.sequence, req.metrics, req.health);
      return create(SendHeartbeatResponseSchema, { sequence: req.sequence, acknowledged: true });
    },

    reportActivity(req) {
      requireInstanceId(req.instanceId);
      if (req.events.length > MAX_ACTIVITY_EVENTS) {
        throw new ConnectError(
          `too many activity events in one report: ${req.events.length} > ${MAX_ACTIVITY_EVENTS}`,
          Code.InvalidArgument,
        );
      }
      const accepted = registry.reportActivity(req.instanceId, req.events);
      return create(ReportActivityResponseSchema, { accepted });
    },

    unregisterService(req) {
      requireInstanceId(req.instanceId);
      registry.unregister(req.instanceId);
      return create(UnregisterServiceResponseSchema, {});
    },

    getTopology() {
      return create(TopologySnapshotSchema, {
        nodes: registry.nodes(),
        edges: registry.edges(),
        revision: registry.revision,
        serverTimeMs: BigInt(Math.round(clock.wallNow())),
      });
    },

    async *watchTopology(_req, ctx) {
      // A small queue between the watcher's callbacks and this generator. Bounded: a client
      // that stops reading gets a fresh snapshot instead of an ever-growing backlog.
      const queue: TopologyUpdate[] = [];
      let wake: (() => void) | undefined;
      let overflowed = false;
      const watcher = new TopologyWatcher(
        registry,
        clock,
        deps.scheduler,
        (u) => {
          if (queue.length >= 256) overflowed = true;
          else queue.push(u);
          wake?.();
        },
        deps.watchCoalesceMs,
      );
      const stop = () => wake?.();
      ctx.signal.addEventListener("abort", stop);
      deps.shutdown.addEventListener("abort", stop);
      try {
        while (!ctx.signal.aborted && !deps.shutdown.aborted) {
          if (overflowed) {
            overflowed = false;
            queue.length = 0;
            yield fullSnapshot(registry, clock);
            continue;
          }
          const next = queue.shift();
          if (next) {
            yield next;
            continue;
          }
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        watcher.close();
        ctx.signal.removeEventListener("abort", stop);
        deps.shutdown.removeEventListener("abort", stop);
      }
    },

    async lookupService(req) {
      if (req.name === "") throw new ConnectError("name is required", Code.InvalidArgument);
      await deps.addressesReady?.();
      return create(LookupServiceResponseSchema, { instances: registry.lookup(req.name) });
    },
  };
}
