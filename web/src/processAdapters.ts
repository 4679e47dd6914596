// Supervisor wire messages to view props.

import { ProcessState, type ProcessInfo } from "@modular-runtime/proto/runtime/v1/supervisor";

export type ProcessViewState = "STOPPED" | "STARTING" | "RUNNING" | "BACKOFF" | "STOPPING" | "EXITED" | "FATAL" | "UNKNOWN";

export interface ProcessView {
  name: string;
  language: string;
  state: ProcessViewState;
  pid: number;
  restarts: number;
  startedAtMs: number;
  uptimeMs: number;
  lastExit: string;
  cpuPercent: number;
  rssBytes: number;
  restartPolicy: string;
  fatalReason: string;
  nextStartAtMs: number;
}

export function toProcessView(p: ProcessInfo): ProcessView {
  const state = ProcessState[p.state];
  return {
    name: p.name,
    language: p.language,
    state: (typeof state === "string" && state !== "UNSPECIFIED" ? state : "UNKNOWN") as ProcessViewState,
    pid: p.pid,
    restarts: p.restartCount,
    startedAtMs: Number(p.startedAtMs),
    uptimeMs: Number(p.uptimeMs),
    lastExit: p.lastExit,
    cpuPercent: p.cpuPercent,
    rssBytes: Number(p.rssBytes),
    restartPolicy: p.restartPolicy,
    fatalReason: p.fatalReason,
    nextStartAtMs: Number(p.nextStartAtMs),
  };
}

/** Which buttons make sense in a state. */
export function allowedActions(state: ProcessViewState): { start: boolean; stop: boolean; restart: boolean } {
  const running = state === "STARTING" || state === "RUNNING";
  return {
    start: state === "STOPPED" || state === "EXITED" || state === "FATAL",
    stop: running || state === "BACKOFF",
    restart: running || state === "BACKOFF" || state === "EXITED" || state === "FATAL" || state === "STOPPED",
  };
}

export function formatUptime(ms: number): string {
  if (ms <= 0) return "–";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}
