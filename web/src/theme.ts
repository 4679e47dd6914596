// The single mapping from states to colours and labels. Components never pick colours themselves.

export type ViewState = "REGISTERED" | "IDLE" | "ACTIVE" | "STALE" | "DEAD" | "UNKNOWN";
export type ViewHealth = "UNKNOWN" | "STARTING" | "HEALTHY" | "DEGRADED" | "UNHEALTHY";

export const stateColor: Record<ViewState, string> = {
  REGISTERED: "#60a5fa",
  IDLE: "#94a3b8",
  ACTIVE: "#34d399",
  STALE: "#fbbf24",
  DEAD: "#f87171",
  UNKNOWN: "#64748b",
};

export const healthColor: Record<ViewHealth, string> = {
  UNKNOWN: "#64748b",
  STARTING: "#60a5fa",
  HEALTHY: "#34d399",
  DEGRADED: "#fbbf24",
  UNHEALTHY: "#f87171",
};

export const languageBadge: Record<string, { label: string; color: string }> = {
  TYPESCRIPT: { label: "TS", color: "#3178c6" },
  RUST: { label: "Rust", color: "#ce422b" },
  CPP: { label: "C++", color: "#00599c" },
  GO: { label: "Go", color: "#00add8" },
  PYTHON: { label: "Py", color: "#3776ab" },
  JAVA: { label: "Java", color: "#e76f00" },
  CSHARP: { label: "C#", color: "#68217a" },
  UNSPECIFIED: { label: "?", color: "#475569" },
};

export const streamStatusColor = {
  live: "#34d399",
  connecting: "#60a5fa",
  reconnecting: "#fbbf24",
  paused: "#94a3b8",
} as const;

export const processStateColor: Record<string, string> = {
  RUNNING: "#34d399",
  STARTING: "#60a5fa",
  BACKOFF: "#fbbf24",
  STOPPING: "#fbbf24",
  STOPPED: "#94a3b8",
  EXITED: "#94a3b8",
  FATAL: "#ef4444",
  UNKNOWN: "#64748b",
};

export type LogLevelName = "DEBUG" | "INFO" | "WARN" | "ERROR" | "FATAL" | "UNKNOWN";

/** Log levels in the Logs panel. */
export const levelColor: Record<LogLevelName, string> = {
  DEBUG: "#64748b",
  INFO: "#94a3b8",
  WARN: "#fbbf24",
  ERROR: "#f87171",
  FATAL: "#ef4444",
  UNKNOWN: "#64748b",
};

/** Runtime markers (lifecycle, drops, skips) in the Logs panel. */
export const markerColor = "#c084fc";

/** Services get a stable colour from this palette by a hash of their name (see logAdapters). */
export const servicePalette = [
  "#60a5fa",
  "#34d399",
  "#f472b6",
  "#a78bfa",
  "#22d3ee",
  "#fb923c",
  "#a3e635",
  "#facc15",
  "#2dd4bf",
  "#f87171",
  "#818cf8",
  "#e879f9",
] as const;

/** Benchmark modes: one colour each in every chart and list of the Benchmark view. */
export const benchModeColor: Record<string, string> = {
  duckdb: "#fbbf24",
  "duckdb-sql": "#fb923c",
  monolith: "#60a5fa",
  split: "#34d399",
  "split-passthrough": "#a78bfa",
};
export const benchModeFallback = "#94a3b8";

/** Benchmark run status (history) and live phase. */
export const benchStatusColor: Record<string, string> = {
  running: "#60a5fa",
  passed: "#34d399",
  problems: "#fbbf24",
  failed: "#f87171",
  cancelled: "#94a3b8",
  unknown: "#64748b",
};

export const benchPhaseColor: Record<string, string> = {
  idle: "#64748b",
  starting: "#60a5fa",
  preparing: "#60a5fa",
  generating: "#60a5fa",
  warmup: "#fbbf24",
  measuring: "#34d399",
  scaling: "#a78bfa",
  reporting: "#60a5fa",
  done: "#34d399",
  failed: "#f87171",
  cancelled: "#94a3b8",
};

/** A headline ratio against its targets (DESIGN.md §6). */
export const benchGradeColor = {
  goal: "#34d399",
  floor: "#fbbf24",
  below: "#f87171",
  none: "#64748b",
} as const;

/** Batch-latency percentiles, as in the Load panel. */
export const percentileColor = { p50: "#60a5fa", p95: "#fbbf24", p99: "#f87171" } as const;

/** Chaos: fault events and process restarts as markers on the timelines, and the verdict. */
export const faultEventColor = {
  crashed: "#f87171",
  injected: "#fbbf24",
  cleared: "#34d399",
  expired: "#94a3b8",
  restart: "#60a5fa",
} as const;

export const chaosVerdictColor = {
  identical: "#34d399",
  different: "#f87171",
  incomplete: "#fbbf24",
} as const;
