// The ChaosService: thin RPC glue over the fault registry, and the WatchFaults stream.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  ClearAllFaultsResponseSchema,
  ClearFaultResponseSchema,
  InjectFaultResponseSchema,
  ListActiveFaultsResponseSchema,
  type ChaosService,
  type FaultEvent,
} from "@modular-runtime/proto/runtime/v1/chaos";
import type { FaultRegistry } from "./fault-registry.js";

export interface ChaosServiceDeps {
  faults: FaultRegistry;
  /** Aborted when the server shuts down: ends every WatchFaults stream. */
  shutdown: AbortSignal;
}

/** Events a watcher may fall behind by before its stream is ended (it can reconnect). */
const MAX_BACKLOG = 1024;

export function createChaosService(deps: ChaosServiceDeps): ServiceImpl<typeof ChaosService> {
  const { faults } = deps;
  return {
    injectFault(req) {
      return create(InjectFaultResponseSchema, { fault: faults.inject(req) });
    },

    listActiveFaults() {
      return create(ListActiveFaultsResponseSchema, { faults: faults.list() });
    },

    clearFault(req) {
      if (req.id === "") throw new ConnectError("chaos: id is required", Code.InvalidArgument);
      return create(ClearFaultResponseSchema, { fault: faults.clear(req.id) });
    },

    clearAllFaults() {
      return create(ClearAllFaultsResponseSchema, { cleared: faults.clearAll() });
    },

    async *watchFaults(_req, ctx) {
      const queue: FaultEvent[] = [];
      let wake: (() => void) | undefined;
      let overflowed = false;
      const sub = faults.watch((ev) => {
        if (queue.length >= MAX_BACKLOG) overflowed = true;
        else queue.push(ev);
        wake?.();
      });
      queue.unshift(...sub.active);
      const stop = () => wake?.();
      ctx.signal.addEventListener("abort", stop);
      deps.shutdown.addEventListener("abort", stop);
      try {
        while (!ctx.signal.aborted) {
          const next = queue.shift();
          if (next) {
            yield next;
            continue;
          }
          if (overflowed) throw new ConnectError("chaos: this watcher fell too far behind; watch again", Code.ResourceExhausted);
          if (deps.shutdown.aborted) break;
          await new Promise<void>((resolve) => (wake = resolve));
          wake = undefined;
        }
      } finally {
        sub.unsubscribe();
        ctx.signal.removeEventListener("abort", stop);
        deps.shutdown.removeEventListener("abort", stop);
      }
    },
  };
}
