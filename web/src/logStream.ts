// The Logs panel's stream: one SubscribeLogs tail for the current filters, owned by a
// StreamController (cancellation, capped backoff, visible status). Entries are handed to the
// store in batches at most every FLUSH_MS, so 10k lines/s cost ten renders a second, not 10k.
// A reconnect resumes after the last sequence number received: nothing missed, nothing twice
// (as far as the server's buffer reaches back).

import type { Client } from "@connectrpc/connect";
import type { LoggerService, SubscribeLogsResponse } from "@modular-runtime/proto/runtime/v1/logger";
import { toLogLineView, toWireFilter, type LogFilters, type LogLineView } from "./logAdapters";
import type { LogState } from "./logStore";
import { StreamController } from "./streamController";

export const FLUSH_MS = 100;
/** Backlog asked for on a fresh tail. */
export const BACKLOG = 500;

export interface LogStream {
  start(): void;
  stop(): void;
}

export function createLogStream(
  client: Client<typeof LoggerService>,
  filters: LogFilters,
  store: () => Pick<LogState, "append" | "setStatus" | "lastSeq">,
  timers: { setTimeout(fn: () => void, ms: number): unknown; clearTimeout(h: unknown): void } = {
    setTimeout: (fn, ms) => setTimeout(fn, ms),
    clearTimeout: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
  },
): LogStream {
  let batch: LogLineView[] = [];
  let timer: unknown;
  const flush = () => {
    timer = undefined;
    const b = batch;
    batch = [];
    store().append(b);
  };
  const controller = new StreamController<SubscribeLogsResponse>({
    open: (signal) =>
      client.subscribeLogs(
        { filter: toWireFilter(filters), backlog: BACKLOG, afterSequence: BigInt(store().lastSeq) },
        { signal },
      ),
    onMessage: (m) => {
      if (m.entries.length === 0) return;
      for (const e of m.entries) batch.push(toLogLineView(e));
      timer ??= timers.setTimeout(flush, FLUSH_MS);
    },
    onStatus: (status, detail) => {
      // Hand over what arrived before a failure (the controller reports the status before it
      // reopens), so `lastSeq` is current when the resume asks for what came after it.
      if (status !== "live" && batch.length > 0) {
        if (timer !== undefined) timers.clearTimeout(timer);
        flush();
      }
      store().setStatus(status, detail);
    },
  });
  return {
    start: () => controller.start(),
    stop: () => {
      controller.stop();
      if (timer !== undefined) timers.clearTimeout(timer);
      timer = undefined;
      batch = [];
    },
  };
}
