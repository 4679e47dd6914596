// The runtime configuration (runtime.yaml): read once by main.ts, validated with messages that
// name the bad key and value, and passed down typed.

import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";

export type RestartPolicy = "always" | "on-failure" | "never";

export interface ProcessConfig {
  name: string;
  command: string;
  args: string[];
  cwd: string;
  env: Record<string, string>;
  language: string;
  restart: RestartPolicy;
  autostart: boolean;
  /** SIGTERM to the group, SIGKILL after this. */
  stopTimeoutMs: number;
  /** First restart delay; doubles (with ±backoffJitter) up to backoffMaxMs. */
  backoffInitialMs: number;
  backoffMaxMs: number;
  backoffJitter: number;
  /** A run this long resets the backoff. */
  stableRunMs: number;
  /** An exit before this counts as a failed start; a run this long is RUNNING (not STARTING). */
  minRunMs: number;
  /** failureBudget failed starts within failureWindowMs make the process FATAL. */
  failureBudget: number;
  failureWindowMs: number;
  /** Minimum time between two manual restarts of this process. */
  manualRestartIntervalMs: number;
  /**
   * Put a chaos fault proxy in front of each instance this process registers: LookupService
   * then answers with the proxy's address, so DELAY, PACKET_LOSS and ERROR_INJECT can act on it.
   */
  faultProxy: boolean;
}

export interface ServerConfig {
  host: string;
  httpPort: number;
  h2cHost: string;
  h2cPort: number;
  /** Host header names accepted (without port). Loopback names are always allowed. */
  allowedHosts: string[];
  /** Origins allowed to make mutating calls, besides the dashboard's own. */
  allowedOrigins: string[];
  /** Required for every call when set; required to be set when binding beyond loopback. */
  controlToken: string;
  /** Read-only access token for an audience (non-mutating calls only). */
  shareToken: string;
  /** Directory with the built dashboard. */
  webDir: string;
}

export interface TopologyConfig {
  heartbeatIntervalMs: number;
  staleMultiplier: number;
  deadMultiplier: number;
  activeWindowMs: number;
  deadLingerMs: number;
}

export interface LogsConfig {
  /** Directory of the persisted log (rotated NDJSON files). */
  dir: string;
  /** Ring buffer size in entries. */
  capacity: number;
  /** Longer messages are cut and marked truncated. */
  maxMessageChars: number;
  /** Per-service rate limit: lines per second and burst. */
  ratePerSecond: number;
  burst: number;
  maxFileBytes: number;
  maxFiles: number;
}

export interface BenchConfig {
  /** Directory of the benchmark history (history/) and the dashboard's runs' files (runs/<id>/). */
  dir: string;
}

export interface RuntimeConfig {
  /** Directory of the config file; relative paths in it are resolved against this. */
  baseDir: string;
  server: ServerConfig;
  topology: TopologyConfig;
  logs: LogsConfig;
  bench: BenchConfig;
  processes: ProcessConfig[];
}

export class ConfigError extends Error {
  override name = "ConfigError";
}

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "::1", "[::1]"];

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK_HOSTS.includes(host) || host.startsWith("127.");
}

type Obj = Record<string, unknown>;

function obj(v: unknown, where: string): Obj {
  if (v === undefined || v === null) return {};
  if (typeof v !== "object" || Array.isArray(v)) throw new ConfigError(`${where} must be a mapping, got ${JSON.stringify(v)}`);
  return v as Obj;
}

function str(o: Obj, key: string, where: string, def?: string): string {
  const v = o[key];
  if (v === undefined || v === null) {
    if (def === undefined) throw new ConfigError(`${where}.${key} is required`);
    return def;
  }
  if (typeof v !== "string") throw new ConfigError(`${where}.${key} must be a string, got ${JSON.stringify(v)}`);
  return v;
}

function int(o: Obj, key: string, where: string, def: number, min: number, max: number): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new ConfigError(`${where}.${key} must be an integer in ${min}..${max}, got ${JSON.stringify(v)}`);
  }
  return v;
}

function fraction(o: Obj, key: string, where: string, def: number): number {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "number" || !(v >= 0 && v < 1)) throw new ConfigError(`${where}.${key} must be a number in [0, 1), got ${JSON.stringify(v)}`);
  return v;
}

function bool(o: Obj, key: string, where: string, def: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null) return def;
  if (typeof v !== "boolean") throw new ConfigError(`${where}.${key} must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

function strList(o: Obj, key: string, where: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string" && typeof x !== "number")) {
    throw new ConfigError(`${where}.${key} must be a list of strings, got ${JSON.stringify(v)}`);
  }
  return v.map(String);
}

/** Defaults for every optional process key (also used by tests to build configs). */
export const processDefaults = {
  args: [] as string[],
  env: {} as Record<string, string>,
  language: "unknown",
  restart: "always" as RestartPolicy,
  autostart: true,
  stopTimeoutMs: 10_000,
  backoffInitialMs: 200,
  backoffMaxMs: 30_000,
  backoffJitter: 0.2,
  stableRunMs: 60_000,
  minRunMs: 1000,
  failureBudget: 5,
  failureWindowMs: 60_000,
  manualRestartIntervalMs: 2000,
  faultProxy: false,
};

const PROCESS_NAME = /^[A-Za-z0-9._-]{1,100}$/;
const KNOWN_PROCESS_KEYS = new Set([
  "name",
  "command",
  "args",
  "cwd",
  "env",
  "language",
  "restart",
  "autostart",
  "stopTimeoutMs",
  "backoffInitialMs",
  "backoffMaxMs",
  "backoffJitter",
  "stableRunMs",
  "minRunMs",
  "failureBudget",
  "failureWindowMs",
  "manualRestartIntervalMs",
  "faultProxy",
]);

export function parseConfig(text: string, baseDir: string, source = "runtime.yaml"): RuntimeConfig {
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`${source}: not valid YAML: ${(err as Error).message}`);
  }
  const root = obj(raw, source);
  const s = obj(root.server, "server");
  const t = obj(root.topology, "topology");
  const l = obj(root.logs, "logs");
  const b = obj(root.bench, "bench");
  const server: ServerConfig = {
    host: str(s, "host", "server", "127.0.0.1"),
    httpPort: int(s, "httpPort", "server", 3000, 0, 65535),
    h2cHost: str(s, "h2cHost", "server", "127.0.0.1"),
    h2cPort: int(s, "h2cPort", "server", 3001, 0, 65535),
    allowedHosts: strList(s, "allowedHosts", "server"),
    allowedOrigins: strList(s, "allowedOrigins", "server"),
    controlToken: str(s, "controlToken", "server", ""),
    shareToken: str(s, "shareToken", "server", ""),
    webDir: path.resolve(baseDir, str(s, "webDir", "server", "web/dist")),
  };
  const topology: TopologyConfig = {
    heartbeatIntervalMs: int(t, "heartbeatIntervalMs", "topology", 5000, 50, 600_000),
    staleMultiplier: int(t, "staleMultiplier", "topology", 2, 1, 100),
    deadMultiplier: int(t, "deadMultiplier", "topology", 3, 2, 100),
    activeWindowMs: int(t, "activeWindowMs", "topology", 3000, 100, 600_000),
    deadLingerMs: int(t, "deadLingerMs", "topology", 3000, 1, 600_000),
  };
  if (topology.deadMultiplier <= topology.staleMultiplier) {
    throw new ConfigError(
      `topology.deadMultiplier (${topology.deadMultiplier}) must be greater than topology.staleMultiplier (${topology.staleMultiplier})`,
    );
  }
  const logs: LogsConfig = {
    dir: path.resolve(baseDir, str(l, "dir", "logs", ".runtime/logs")),
    capacity: int(l, "capacity", "logs", 10_000, 100, 10_000_000),
    maxMessageChars: int(l, "maxMessageChars", "logs", 8192, 64, 1_048_576),
    ratePerSecond: int(l, "ratePerSecond", "logs", 2000, 1, 10_000_000),
    burst: int(l, "burst", "logs", 4000, 1, 10_000_000),
    maxFileBytes: int(l, "maxFileBytes", "logs", 5 * 1024 * 1024, 1024, 1024 * 1024 * 1024),
    maxFiles: int(l, "maxFiles", "logs", 5, 1, 1000),
  };
  const procs = root.processes ?? [];
  if (!Array.isArray(procs)) throw new ConfigError(`processes must be a list, got ${JSON.stringify(procs)}`);
  const names = new Set<string>();
  const processes = procs.map((p, i): ProcessConfig => {
    const where = `processes[${i}]`;
    const o = obj(p, where);
    for (const k of Object.keys(o)) {
      if (!KNOWN_PROCESS_KEYS.has(k)) throw new ConfigError(`${where}: unknown key ${JSON.stringify(k)}`);
    }
    const name = str(o, "name", where);
    if (!PROCESS_NAME.test(name)) throw new ConfigError(`${where}.name ${JSON.stringify(name)} must be 1-100 of A-Z a-z 0-9 . _ -`);
    if (names.has(name)) throw new ConfigError(`${where}.name ${JSON.stringify(name)} is used twice`);
    names.add(name);
    const restart = str(o, "restart", where, "always");
    if (restart !== "always" && restart !== "on-failure" && restart !== "never") {
      throw new ConfigError(`${where}.restart must be always, on-failure or never, got ${JSON.stringify(restart)}`);
    }
    const envObj = obj(o.env, `${where}.env`);
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(envObj)) env[k] = String(v);
    return {
      name,
      command: str(o, "command", where),
      args: strList(o, "args", where),
      cwd: path.resolve(baseDir, str(o, "cwd", where, ".")),
      env,
      language: str(o, "language", where, "unknown"),
      restart,
      autostart: bool(o, "autostart", where, processDefaults.autostart),
      stopTimeoutMs: int(o, "stopTimeoutMs", where, processDefaults.stopTimeoutMs, 0, 600_000),
      backoffInitialMs: int(o, "backoffInitialMs", where, processDefaults.backoffInitialMs, 0, 60_000),
      backoffMaxMs: int(o, "backoffMaxMs", where, processDefaults.backoffMaxMs, 0, 3_600_000),
      backoffJitter: fraction(o, "backoffJitter", where, processDefaults.backoffJitter),
      stableRunMs: int(o, "stableRunMs", where, processDefaults.stableRunMs, 0, 86_400_000),
      minRunMs: int(o, "minRunMs", where, processDefaults.minRunMs, 0, 600_000),
      failureBudget: int(o, "failureBudget", where, processDefaults.failureBudget, 1, 1000),
      failureWindowMs: int(o, "failureWindowMs", where, processDefaults.failureWindowMs, 1, 86_400_000),
      manualRestartIntervalMs: int(o, "manualRestartIntervalMs", where, processDefaults.manualRestartIntervalMs, 0, 600_000),
      faultProxy: bool(o, "faultProxy", where, processDefaults.faultProxy),
    };
  });
  if (!isLoopbackHost(server.host) && server.controlToken === "") {
    throw new ConfigError(
      `server.host is ${server.host}, beyond loopback: set server.controlToken (and optionally server.shareToken for read-only viewers)`,
    );
  }
  const bench: BenchConfig = { dir: path.resolve(baseDir, str(b, "dir", "bench", ".runtime/bench")) };
  return { baseDir, server, topology, logs, bench, processes };
}

export function loadConfig(file: string): RuntimeConfig {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseConfig(text, path.dirname(path.resolve(file)), file);
}
