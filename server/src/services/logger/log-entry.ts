// The log entry as the control server keeps it (plain objects: cheap to store, filter and
// persist as NDJSON), and how captured output lines become entries.
//
// Line parsing rules (what users should know; worth a README section):
// - A line that is a JSON object is structured: `level` (debug/info/warn/warning/error/fatal,
//   trace → debug, or pino's numbers 10…60), `msg` or `message`, `correlationId` or
//   `correlation_id`, `ts`/`time`/`timestamp` (Unix ms or an ISO date); every other key becomes a
//   field (`service` is dropped: the supervisor knows the process name).
// - A plain line with a leading level word (`ERROR …`, `[warn] …`, `WARNING:root:…`) gets that level.
// - Other plain lines: stdout → INFO; stderr → WARN, or ERROR when it looks like an error
//   (starts with `SomethingError`, `Uncaught`, `Traceback`, `panic`, `fatal`, or contains `error:`).

export type Level = 1 | 2 | 3 | 4 | 5;
export const DEBUG: Level = 1;
export const INFO: Level = 2;
export const WARN: Level = 3;
export const ERROR: Level = 4;
export const FATAL: Level = 5;

export type StreamName = "stdout" | "stderr" | "rpc" | "";

export interface StoredEntry {
  seq: number;
  /** Unix ms. */
  ts: number;
  service: string;
  instance?: string;
  level: Level;
  msg: string;
  corr?: string;
  stream: StreamName;
  fields?: Record<string, string>;
  truncated?: boolean;
  marker?: boolean;
}

/** An entry before the store gives it a sequence number and applies its limits. */
export type NewEntry = Omit<StoredEntry, "seq">;

const LEVEL_WORDS: Record<string, Level> = {
  trace: DEBUG,
  debug: DEBUG,
  info: INFO,
  notice: INFO,
  warn: WARN,
  warning: WARN,
  error: ERROR,
  err: ERROR,
  fatal: FATAL,
  critical: FATAL,
  crit: FATAL,
  panic: FATAL,
};

export function levelFromWord(v: unknown): Level | undefined {
  if (typeof v === "number" && Number.isFinite(v)) {
    // pino / bunyan numeric levels
    if (v >= 60) return FATAL;
    if (v >= 50) return ERROR;
    if (v >= 40) return WARN;
    if (v >= 30) return INFO;
    return DEBUG;
  }
  if (typeof v !== "string") return undefined;
  return LEVEL_WORDS[v.trim().toLowerCase()];
}

const LEADING_LEVEL = /^\s*\[?(trace|debug|info|notice|warn|warning|error|err|fatal|critical|crit)\]?(?=[\s:|\]-])/i;
const LOOKS_LIKE_ERROR = /^\s*(?:[A-Za-z_.]*(?:Error|Exception)\b|Uncaught\b|Traceback\b|panic\b|thread '.*' panicked|fatal\b)|\berror:/i;

const TIME_KEYS = ["ts", "time", "timestamp"];
const RESERVED = new Set(["level", "msg", "message", "correlationId", "correlation_id", "service", ...TIME_KEYS]);

function parseTime(v: unknown): number | undefined {
  if (typeof v === "number" && Number.isFinite(v) && v > 0) return Math.round(v);
  if (typeof v === "string" && v !== "") {
    const t = Date.parse(v);
    if (Number.isFinite(t)) return t;
  }
  return undefined;
}

/** Turns one captured output line into an entry (without limits applied). */
export function parseLine(service: string, stream: "stdout" | "stderr", line: string, nowMs: number, instance?: string): NewEntry {
  const base = { service, stream, ts: nowMs, ...(instance ? { instance } : {}) };
  const trimmed = line.trimStart();
  // Huge lines are not worth a JSON parse; they are cut anyway.
  if (trimmed.startsWith("{") && line.length <= 256 * 1024) {
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch {
      obj = undefined;
    }
    if (obj !== null && typeof obj === "object" && !Array.isArray(obj)) {
      const o = obj as Record<string, unknown>;
      const msgRaw = o.msg ?? o.message;
      const corrRaw = o.correlationId ?? o.correlation_id;
      let ts: number | undefined;
      for (const k of TIME_KEYS) ts ??= parseTime(o[k]);
      const fields: Record<string, string> = {};
      let nFields = 0;
      for (const [k, v] of Object.entries(o)) {
        if (RESERVED.has(k)) continue;
        fields[k] = typeof v === "string" ? v : JSON.stringify(v);
        nFields++;
      }
      return {
        ...base,
        ts: ts ?? nowMs,
        level: levelFromWord(o.level) ?? (stream === "stderr" ? WARN : INFO),
        msg: msgRaw === undefined ? "" : typeof msgRaw === "string" ? msgRaw : JSON.stringify(msgRaw),
        ...(corrRaw !== undefined && corrRaw !== "" ? { corr: String(corrRaw) } : {}),
        ...(nFields > 0 ? { fields } : {}),
      };
    }
  }
  return { ...base, level: plainLevel(stream, line), msg: line };
}

function plainLevel(stream: "stdout" | "stderr", line: string): Level {
  const m = LEADING_LEVEL.exec(line);
  if (m) return LEVEL_WORDS[m[1]!.toLowerCase()]!;
  if (stream === "stdout") return INFO;
  return LOOKS_LIKE_ERROR.test(line) ? ERROR : WARN;
}
