// Logs domain, pure parts: wire entries → line view props, filters ↔ URL query and ↔ wire
// filter, the stable service colour. Components and their tests never touch protobuf.

import {
  LogEntryKind,
  LogLevel,
  LogStream,
  type GetLogStatsResponse,
  type LogEntry,
  type LogFilterSchema,
} from "@modular-runtime/proto/runtime/v1/logger";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { servicePalette, type LogLevelName } from "./theme";

export interface LogLineView {
  /** Client-side key, unique within the page (sequence numbers restart with an in-memory server). */
  key: number;
  seq: number;
  tsMs: number;
  service: string;
  instanceId: string;
  level: LogLevelName;
  message: string;
  correlationId: string;
  stream: "stdout" | "stderr" | "rpc" | "";
  fields: [string, string][];
  truncated: boolean;
  marker: boolean;
}

const LEVELS: LogLevelName[] = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const STREAMS: Record<number, LogLineView["stream"]> = {
  [LogStream.STDOUT]: "stdout",
  [LogStream.STDERR]: "stderr",
  [LogStream.RPC]: "rpc",
};

let nextKey = 1;

export function toLogLineView(e: LogEntry): LogLineView {
  const level = LogLevel[e.level];
  return {
    key: nextKey++,
    seq: Number(e.sequence),
    tsMs: Number(e.timestampMs),
    service: e.serviceName,
    instanceId: e.instanceId,
    level: (LEVELS as string[]).includes(level ?? "") ? (level as LogLevelName) : "UNKNOWN",
    message: e.message,
    correlationId: e.correlationId,
    stream: STREAMS[e.stream] ?? "",
    fields: Object.entries(e.fields).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
    truncated: e.truncated,
    marker: e.kind === LogEntryKind.MARKER,
  };
}

/** "12:03:04.567" in local time. */
export function formatLogTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** FNV-1a: the same name gets the same colour on every screen and every reload. */
export function hashName(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export function serviceColor(name: string): string {
  return servicePalette[hashName(name) % servicePalette.length]!;
}

// ---- filters

export interface LogFilters {
  services: string[];
  /** Minimum level; "" for all. */
  level: "" | Exclude<LogLevelName, "UNKNOWN">;
  text: string;
  regex: string;
  correlationId: string;
}

export const emptyFilters: LogFilters = { services: [], level: "", text: "", regex: "", correlationId: "" };

const PARAM = {
  services: "logService",
  level: "logLevel",
  text: "logText",
  regex: "logRegex",
  correlationId: "logCorrelation",
} as const;

export function filtersFromSearch(search: string): LogFilters {
  const p = new URLSearchParams(search);
  const level = (p.get(PARAM.level) ?? "").toUpperCase();
  return {
    services: (p.get(PARAM.services) ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
    level: (LEVELS as string[]).includes(level) ? (level as LogFilters["level"]) : "",
    text: p.get(PARAM.text) ?? "",
    regex: p.get(PARAM.regex) ?? "",
    correlationId: p.get(PARAM.correlationId) ?? "",
  };
}

/** The query string with the log filters set (empty ones removed); other parameters stay. */
export function filtersToSearch(search: string, f: LogFilters): string {
  const p = new URLSearchParams(search);
  const set = (k: string, v: string) => (v ? p.set(k, v) : p.delete(k));
  set(PARAM.services, f.services.join(","));
  set(PARAM.level, f.level.toLowerCase());
  set(PARAM.text, f.text);
  set(PARAM.regex, f.regex);
  set(PARAM.correlationId, f.correlationId);
  const s = p.toString();
  return s ? `?${s}` : "";
}

export function sameFilters(a: LogFilters, b: LogFilters): boolean {
  return (
    a.services.join("\n") === b.services.join("\n") &&
    a.level === b.level &&
    a.text === b.text &&
    a.regex === b.regex &&
    a.correlationId === b.correlationId
  );
}

/** The error of a regex the server would refuse, or "" when it compiles. */
export function regexError(regex: string): string {
  if (!regex) return "";
  if (regex.length > 500) return "longer than 500 characters";
  try {
    new RegExp(regex);
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

export function toWireFilter(f: LogFilters): MessageInitShape<typeof LogFilterSchema> {
  return {
    serviceNames: f.services,
    minLevel: f.level ? LogLevel[f.level] : LogLevel.UNSPECIFIED,
    text: f.text,
    regex: f.regex,
    correlationId: f.correlationId,
  };
}

// ---- stats

export interface LogStatsView {
  accepted: number;
  truncated: number;
  droppedRateLimit: number;
  droppedEvicted: number;
  buffered: number;
  capacity: number;
  perService: { service: string; accepted: number; truncated: number; droppedRateLimit: number; droppedEvicted: number }[];
}

export function toLogStatsView(r: GetLogStatsResponse): LogStatsView {
  const perService = r.services.map((s) => ({
    service: s.serviceName,
    accepted: Number(s.accepted),
    truncated: Number(s.truncated),
    droppedRateLimit: Number(s.droppedRateLimit),
    droppedEvicted: Number(s.droppedEvicted),
  }));
  const sum = (k: "accepted" | "truncated" | "droppedRateLimit" | "droppedEvicted") => perService.reduce((a, s) => a + s[k], 0);
  return {
    accepted: sum("accepted"),
    truncated: sum("truncated"),
    droppedRateLimit: sum("droppedRateLimit"),
    droppedEvicted: sum("droppedEvicted"),
    buffered: Number(r.buffered),
    capacity: Number(r.capacity),
    perService,
  };
}
