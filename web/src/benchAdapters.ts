// Benchmark wire messages → small view objects (numbers, strings, null for "not measured"), and
// the number formats the Benchmark view shows. Components and their tests never touch protobuf.

import {
  BenchmarkPhase,
  BenchmarkStatus,
  type BenchmarkProgress,
  type BenchmarkRun,
  type CompletedRun,
} from "@modular-runtime/proto/runtime/v1/benchmark";

/** "idle" and "starting" are the view's own (before the first message). */
export type PhaseName =
  | "idle"
  | "starting"
  | "preparing"
  | "generating"
  | "warmup"
  | "measuring"
  | "scaling"
  | "reporting"
  | "done"
  | "failed"
  | "cancelled";

export type StatusName = "running" | "passed" | "problems" | "failed" | "cancelled" | "unknown";

export const PHASE_LABEL: Record<PhaseName, string> = {
  idle: "idle",
  starting: "starting",
  preparing: "building engines",
  generating: "generating input",
  warmup: "warm-up",
  measuring: "measuring",
  scaling: "scaling sweep",
  reporting: "writing report",
  done: "done",
  failed: "failed",
  cancelled: "cancelled",
};

export const ENDED_PHASES: readonly PhaseName[] = ["done", "failed", "cancelled"];

export interface CompletedView {
  mode: string;
  events: number;
  /** 1-based; for a warm-up run, its index among the warm-ups. */
  runIndex: number;
  warmup: boolean;
  wallSeconds: number;
  eventsPerSecond: number;
  checksum: string;
  exitCode: number;
  /** Partition count within the scaling sweep, else 0. */
  partitions: number;
}

export interface RunView {
  id: string;
  status: StatusName;
  startedAtMs: number;
  finishedAtMs: number;
  origin: string;
  modes: string[];
  events: number[];
  checksumsAgree: boolean;
  /** Null when not measured (the wire's 0). */
  splitVsMonolith: number | null;
  monolithVsDuckdbSql: number | null;
  error: string;
  reportJson: string;
  reportMarkdown: string;
}

export interface ProgressView {
  runId: string;
  phase: PhaseName;
  mode: string;
  events: number;
  runIndex: number;
  runCount: number;
  stepsDone: number;
  stepsTotal: number;
  eventsDone: number;
  eventsPerSecond: number;
  runSeconds: number;
  message: string;
  completed: CompletedView | null;
  run: RunView | null;
}

const PHASES: Record<BenchmarkPhase, PhaseName> = {
  [BenchmarkPhase.UNSPECIFIED]: "starting",
  [BenchmarkPhase.PREPARING]: "preparing",
  [BenchmarkPhase.GENERATING]: "generating",
  [BenchmarkPhase.WARMUP]: "warmup",
  [BenchmarkPhase.MEASURING]: "measuring",
  [BenchmarkPhase.SCALING]: "scaling",
  [BenchmarkPhase.REPORTING]: "reporting",
  [BenchmarkPhase.DONE]: "done",
  [BenchmarkPhase.FAILED]: "failed",
  [BenchmarkPhase.CANCELLED]: "cancelled",
};

const STATUSES: Record<BenchmarkStatus, StatusName> = {
  [BenchmarkStatus.UNSPECIFIED]: "unknown",
  [BenchmarkStatus.RUNNING]: "running",
  [BenchmarkStatus.PASSED]: "passed",
  [BenchmarkStatus.PROBLEMS]: "problems",
  [BenchmarkStatus.FAILED]: "failed",
  [BenchmarkStatus.CANCELLED]: "cancelled",
};

export function toCompletedView(c: CompletedRun): CompletedView {
  return {
    mode: c.mode,
    events: Number(c.events),
    runIndex: c.runIndex,
    warmup: c.warmup,
    wallSeconds: c.wallSeconds,
    eventsPerSecond: c.eventsPerSecond,
    checksum: c.checksum,
    exitCode: c.exitCode,
    partitions: c.partitions,
  };
}

export function toRunView(r: BenchmarkRun): RunView {
  return {
    id: r.runId,
    status: STATUSES[r.status] ?? "unknown",
    startedAtMs: Number(r.startedAtMs),
    finishedAtMs: Number(r.finishedAtMs),
    origin: r.origin,
    modes: [...r.modes],
    events: r.events.map(Number),
    checksumsAgree: r.checksumsAgree,
    splitVsMonolith: r.splitVsMonolith > 0 ? r.splitVsMonolith : null,
    monolithVsDuckdbSql: r.monolithVsDuckdbSql > 0 ? r.monolithVsDuckdbSql : null,
    error: r.error,
    reportJson: r.reportJson,
    reportMarkdown: r.reportMarkdown,
  };
}

export function toProgressView(m: BenchmarkProgress): ProgressView {
  return {
    runId: m.runId,
    phase: PHASES[m.phase] ?? "starting",
    mode: m.mode,
    events: Number(m.events),
    runIndex: m.runIndex,
    runCount: m.runCount,
    stepsDone: m.stepsDone,
    stepsTotal: m.stepsTotal,
    eventsDone: Number(m.eventsDone),
    eventsPerSecond: m.eventsPerSecond,
    runSeconds: m.runSeconds,
    message: m.message,
    completed: m.completed ? toCompletedView(m.completed) : null,
    run: m.run ? toRunView(m.run) : null,
  };
}

// ---- formats ("–" for anything not measured) ----

const known = (n: number | null | undefined): n is number => n !== null && n !== undefined && Number.isFinite(n);

/** 1234567 → "1,234,567"; with digits, fixed decimals. */
export function fmtNum(n: number | null | undefined, digits = 0): string {
  if (!known(n)) return "–";
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** Events per second, short and readable from the back of a room: "3.44 M/s", "812 k/s". */
export function fmtRate(n: number | null | undefined): string {
  if (!known(n)) return "–";
  if (n >= 1e6) return `${(n / 1e6).toFixed(n >= 1e8 ? 0 : 2)} M/s`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(n >= 1e5 ? 0 : 1)} k/s`;
  return `${n.toFixed(0)} /s`;
}

/** Axis ticks: "3.4M", "800k", "50". */
export function fmtShort(n: number): string {
  if (!Number.isFinite(n)) return "";
  if (Math.abs(n) >= 1e6) return `${+(n / 1e6).toFixed(1)}M`;
  if (Math.abs(n) >= 1e3) return `${+(n / 1e3).toFixed(1)}k`;
  return `${+n.toFixed(1)}`;
}

/** An input size: 20000 → "20k", 1000000 → "1M", 1500000 → "1.5M". */
export function fmtEvents(n: number): string {
  if (n >= 1e6 && n % 1e5 === 0) return `${n / 1e6}M`;
  if (n >= 1e3 && n % 100 === 0) return `${n / 1e3}k`;
  return fmtNum(n);
}

export function fmtRatio(n: number | null | undefined): string {
  return known(n) ? `${n.toFixed(2)}×` : "–";
}

/** A share 0–1 as a percentage. */
export function fmtPct(n: number | null | undefined, digits = 1): string {
  return known(n) ? `${(n * 100).toFixed(digits)} %` : "–";
}

export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "–";
  if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  const m = Math.floor(seconds / 60);
  return `${m} min ${Math.round(seconds - m * 60)} s`;
}

/** Local date and time, minutes precision: "29 Nov 08:25". */
export function fmtWhen(ms: number): string {
  if (!ms) return "–";
  const d = new Date(ms);
  const date = d.toLocaleDateString("en-GB", { day: "numeric", month: "short" });
  const time = d.toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  return `${date} ${time}`;
}

export const checksumPrefix = (c: string): string => (c ? c.slice(0, 12) : "(none)");
