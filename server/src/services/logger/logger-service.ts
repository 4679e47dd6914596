// The LoggerService implementation: RPC glue over the LogStore (wire ↔ stored entries,
// argument checks, the SubscribeLogs stream loop).

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  GetLogStatsResponseSchema,
  LogEntryKind,
  LogEntrySchema,
  LogLevel,
  LogStream,
  QueryLogsResponseSchema,
  ServiceLogStatsSchema,
  StreamLogsResponseSchema,
  SubscribeLogsResponseSchema,
  type LogEntry,
  type LogFilter,
  type LoggerService,
} from "@modular-runtime/proto/runtime/v1/logger";
import type { Clock } from "../../clock.js";
import { INFO, type Level, type NewEntry, type StoredEntry, type StreamName } from "./log-entry.js";
import { compileFilter, type EntryFilter } from "./log-filter.js";
import type { LogStore } from "./log-store.js";

export interface LoggerServiceDeps {
  store: LogStore;
  clock: Clock;
  /** Aborted when the server shuts down: ends every SubscribeLogs stream. */
  shutdown: AbortSignal;
}

export const DEFAULT_QUERY_LIMIT = 1000;
export const MAX_QUERY_LIMIT = 10_000;
export const DEFAULT_BACKLOG = 200;
export const MAX_BACKLOG = 2000;
export const MAX_BATCH = 1000;
/** Entries per SubscribeLogs message. */
const SEND_BATCH = 500;
const MAX_SERVICE_NAME = 100;

const STREAM_TO_WIRE: Record<StreamName, LogStream> = {
  stdout: LogStream.STDOUT,
  stderr: LogStream.STDERR,
  rpc: LogStream.RPC,
  "": LogStream.UNSPECIFIED,
};

export function toWireEntry(e: StoredEntry): LogEntry {
  return create(LogEntrySchema, {
    sequence: BigInt(e.seq),
    timestampMs: BigInt(e.ts),
    serviceName: e.service,
    instanceId: e.instance ?? "",
    level: e.level as number as LogLevel,
    message: e.msg,
    correlationId: e.corr ?? "",
    stream: STREAM_TO_WIRE[e.stream],
    fields: e.fields ?? {},
    truncated: e.truncated === true,
    kind: e.marker ? LogEntryKind.MARKER : LogEntryKind.ENTRY,
  });
}

export function fromWireFilter(f: LogFilter | undefined): EntryFilter {
  if (!f) return {};
  return {
    services: f.serviceNames,
    minLevel: f.minLevel,
    sinceMs: Number(f.sinceMs),
    untilMs: Number(f.untilMs),
    text: f.text,
    regex: f.regex,
    correlationId: f.correlationId,
  };
}

function checkServiceName(name: string): void {
  if (name === "") throw new ConnectError("log entry without service_name", Code.InvalidArgument);
  // eslint-disable-next-line no-control-regex
  if (name.length > MAX_SERVICE_NAME || /[\u0000-\u001f]/.test(name)) {
    throw new ConnectError(`invalid service_name ${JSON.stringify(name.slice(0, 120))}: 1–${MAX_SERVICE_NAME} printable characters`, Code.InvalidArgument);
  }
}

/** A shipped entry as the store takes it: always an ENTRY, server-assigned sequence. */
function fromWireEntry(e: LogEntry, nowMs: number): NewEntry {
  const level = e.level >= LogLevel.DEBUG && e.level <= LogLevel.FATAL ? (e.level as number as Level) : INFO;
  const ts = Number(e.timestampMs);
  const fields = Object.keys(e.fields).length > 0 ? { ...e.fields } : undefined;
  return {
    ts: ts > 0 ? ts : nowMs,
    service: e.serviceName,
    ...(e.instanceId ? { instance: e.instanceId } : {}),
    level,
    msg: e.message,
    ...(e.correlationId ? { corr: e.correlationId } : {}),
    stream: "rpc",
    ...(fields ? { fields } : {}),
  };
}

function clampLimit(v: number, dflt: number, max: number, what: string): number {
  if (v < 0) throw new ConnectError(`${what} must not be negative, got ${v}`, Code.InvalidArgument);
  return v === 0 ? dflt : Math.min(v, max);
}

export function createLoggerService(deps: LoggerServiceDeps): ServiceImpl<typeof LoggerService> {
  const { store, clock } = deps;
  return {
    async streamLogs(requests) {
      let accepted = 0n;
      let dropped = 0n;
      let truncated = 0n;
      for await (const req of requests) {
        if (req.entries.length > MAX_BATCH) {
          throw new ConnectError(`too many entries in one message: ${req.entries.length} > ${MAX_BATCH}`, Code.InvalidArgument);
        }
        for (const e of req.entries) checkServiceName(e.serviceName);
        const now = clock.wallNow();
        for (const e of req.entries) {
          const r = store.append(fromWireEntry(e, now));
          if (r === "dropped") dropped++;
          else {
            accepted++;
            if (r === "truncated") truncated++;
          }
        }
      }
      return create(StreamLogsResponseSchema, { accepted, dropped, truncated });
    },

    queryLogs(req) {
      const matches = compileFilter(fromWireFilter(req.filter));
      const limit = clampLimit(req.limit, DEFAULT_QUERY_LIMIT, MAX_QUERY_LIMIT, "limit");
      return create(QueryLogsResponseSchema, {
        entries: store.query(matches, limit).map(toWireEntry),
        lastSequence: BigInt(store.lastSequence),
      });
    },

    async *subscribeLogs(req, ctx) {
      const matches = compileFilter(fromWireFilter(req.filter));
      const backlog = clampLimit(req.backlog, DEFAULT_BACKLOG, MAX_BACKLOG, "backlog");
      // Subscribing and reading the backlog in the same turn leaves no gap between them.
      const sub = store.subscribe(matches);
      // A resume point beyond the newest entry means the log restarted (in-memory only): start fresh.
      const after = Number(req.afterSequence);
      const first = after > 0 && after <= store.lastSequence ? store.queryAfter(matches, after, backlog) : store.query(matches, backlog);
      const stop = () => store.unsubscribe(sub);
      ctx.signal.addEventListener("abort", stop);
      deps.shutdown.addEventListener("abort", stop);
      try {
        if (deps.shutdown.aborted) return;
        yield create(SubscribeLogsResponseSchema, { entries: first.map(toWireEntry) });
        while (!sub.closed) {
          await sub.waitForEntries();
          if (sub.closed) break;
          const batch = sub.take(SEND_BATCH);
          if (batch.length > 0) yield create(SubscribeLogsResponseSchema, { entries: batch.map(toWireEntry) });
        }
      } finally {
        stop();
        ctx.signal.removeEventListener("abort", stop);
        deps.shutdown.removeEventListener("abort", stop);
      }
    },

    getLogStats() {
      return create(GetLogStatsResponseSchema, {
        services: store.stats().map(({ service, counters }) =>
          create(ServiceLogStatsSchema, {
            serviceName: service,
            accepted: BigInt(counters.accepted),
            truncated: BigInt(counters.truncated),
            droppedRateLimit: BigInt(counters.droppedRateLimit),
            droppedEvicted: BigInt(counters.droppedEvicted),
          }),
        ),
        buffered: BigInt(store.size),
        capacity: BigInt(store.capacity),
        lastSequence: BigInt(store.lastSequence),
      });
    },
  };
}
