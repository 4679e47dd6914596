// A tiny structured logger for TypeScript services: one JSON object per line on stdout, which
// the supervisor captures and the control server's LoggerService parses (level, msg,
// correlationId, the rest as fields). No network involved.
//
//   const log = createLogger({ service: "calculator-server" });
//   log.info("serving", { port: 50051 });
//   const req = log.child({ correlationId: "req-42" });
//   req.warn("slow divide", { ms: 1200 });
//   // {"ts":1767312000000,"level":"warn","msg":"slow divide","service":"calculator-server","correlationId":"req-42","ms":1200}

export type LogLevelName = "debug" | "info" | "warn" | "error" | "fatal";

const RANK: Record<LogLevelName, number> = { debug: 10, info: 20, warn: 30, error: 40, fatal: 50 };

export type LogFields = Record<string, unknown>;

export interface LoggerOptions {
  /** Service name written on every line (env MR_PROCESS_NAME is a good default). */
  service: string;
  /** Lines below this level are not written. Default "info". */
  level?: LogLevelName;
  /** Correlation id of every line of this logger. */
  correlationId?: string;
  /** Fields written on every line. */
  fields?: LogFields;
  /** Where lines go; default process.stdout. Gets one complete line including "\n". */
  write?: (line: string) => void;
  /** Unix ms; injectable for tests. */
  now?: () => number;
}

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  fatal(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields (e.g. `correlationId`) to every line. */
  child(bindings: { correlationId?: string } & LogFields): Logger;
  /** Whether a level would be written. */
  enabled(level: LogLevelName): boolean;
}

const RESERVED = new Set(["ts", "level", "msg", "service"]);

/** Errors become {name, message, stack}: JSON.stringify would write "{}". */
function toJsonValue(_key: string, v: unknown): unknown {
  if (v instanceof Error) return { name: v.name, message: v.message, ...(v.stack ? { stack: v.stack } : {}) };
  if (typeof v === "bigint") return v.toString();
  return v;
}

export function createLogger(opts: LoggerOptions): Logger {
  const write = opts.write ?? ((line: string) => void process.stdout.write(line));
  const now = opts.now ?? Date.now;
  const min = RANK[opts.level ?? "info"];
  const base: LogFields = { ...opts.fields };
  if (opts.correlationId) base.correlationId = opts.correlationId;

  const emit = (level: LogLevelName, msg: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const line: LogFields = { ts: now(), level, msg, service: opts.service };
    for (const src of [base, fields]) {
      if (!src) continue;
      for (const [k, v] of Object.entries(src)) if (!RESERVED.has(k) && v !== undefined) line[k] = v;
    }
    let text: string;
    try {
      text = JSON.stringify(line, toJsonValue);
    } catch (err) {
      // Circular fields: still log the message, and say why the fields are missing.
      text = JSON.stringify({ ts: line.ts, level, msg, service: opts.service, logError: `fields not serialisable: ${(err as Error).message}` });
    }
    write(text + "\n");
  };

  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    fatal: (m, f) => emit("fatal", m, f),
    child: (bindings) =>
      createLogger({ ...opts, fields: { ...base, ...bindings }, correlationId: undefined }),
    enabled: (level) => RANK[level] >= min,
  };
}

/** A new random correlation id for a request entering the system. */
export function newCorrelationId(): string {
  return globalThis.crypto.randomUUID();
}
