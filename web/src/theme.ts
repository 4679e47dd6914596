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
