// The LoadGeneratorService implementation: RPC glue over the LoadGenerator (the StartLoad and
// WatchLoadTests stream loops, cancellation, shutdown).

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  GetActiveTestsResponseSchema,
  WatchLoadTestsResponseSchema,
  type LoadGeneratorService,
  type LoadMetrics,
} from "@modular-runtime/proto/runtime/v1/load";
import type { Clock } from "../../clock.js";
import type { TopologyRegistry } from "../topology/registry.js";
import type { Scheduler } from "../topology/topology-watcher.js";
import { LoadGenerator } from "./load-generator.js";
import type { TargetAdapter } from "./targets.js";

export interface LoadServiceDeps {
  registry: TopologyRegistry;
  clock: Clock;
  scheduler: Scheduler;
  /** Aborted when the server shuts down: stops every test and ends every stream. */
  shutdown: AbortSignal;
  adapters?: TargetAdapter[];
  /** Ready-made generator (tests); built from the other deps when absent. */
  generator?: LoadGenerator;
  watchIntervalMs?: number;
}

/** A StartLoad stream keeps at most this many unread messages (the oldest go first). */
const MAX_QUEUED = 64;

export function createLoadGeneratorService(deps: LoadServiceDeps): ServiceImpl<typeof LoadGeneratorService> {
  const generator = deps.generator ?? new LoadGenerator(deps);
  deps.shutdown.addEventListener(
    "abort",
    () => {
      generator.stopAll();
      generator.reporter.close();
    },
    { once: true },
  );

  return {
    async *startLoad(req, ctx) {
      const queue: LoadMetrics[] = [];
      let wake: (() => void) | undefined;
      const info = generator.start(req, (m) => {
        if (queue.length >= MAX_QUEUED) queue.shift();
        queue.push(m);
        wake?.();
      });
      const id = info.testId;
      const test = generator.get(id)!;
      const onAbort = () => {
        if (!req.detach) generator.stop(id);
        wake?.();
      };
      ctx.signal.addEventListener("abort", onAbort);
      deps.shutdown.addEventListener("abort", onAbort);
      try {
        yield info.latest!;
        for (;;) {
          const m = queue.shift();
          if (m) {
            yield m;
            if (m.testId === id && test.ended && queue.length === 0) return;
            continue;
          }
          if (ctx.signal.aborted || deps.shutdown.aborted) return;
          if (test.ended) return;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        ctx.signal.removeEventListener("abort", onAbort);
        deps.shutdown.removeEventListener("abort", onAbort);
      }
    },

    stopLoad(req) {
      return generator.stop(req.testId);
    },

    getActiveTests() {
      return create(GetActiveTestsResponseSchema, { tests: generator.active() });
    },

    async *watchLoadTests(_req, ctx) {
      const interval = deps.watchIntervalMs ?? 1000;
      let wake: (() => void) | undefined;
      const stop = () => wake?.();
      ctx.signal.addEventListener("abort", stop);
      deps.shutdown.addEventListener("abort", stop);
      try {
        while (!ctx.signal.aborted && !deps.shutdown.aborted) {
          yield create(WatchLoadTestsResponseSchema, {
            tests: generator.all(),
            serverTimeMs: BigInt(Math.round(deps.clock.wallNow())),
          });
          await new Promise<void>((resolve) => {
            wake = resolve;
            const t = deps.scheduler.setTimeout(resolve, interval);
            wake = () => {
              deps.scheduler.clearTimeout(t);
              resolve();
            };
          });
          wake = undefined;
        }
      } finally {
        ctx.signal.removeEventListener("abort", stop);
        deps.shutdown.removeEventListener("abort", stop);
      }
    },
  };
}
