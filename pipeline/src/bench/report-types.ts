// The benchmark report's JSON shape (bench.json, BenchmarkRun.report_json). Types only, no
// imports, so the dashboard can use them too.

export type BenchMode = 'duckdb' | 'duckdb-sql' | 'monolith' | 'split' | 'split-passthrough';

export interface MachineInfo {
  cores: number;
  cpuModel: string;
  memoryGB: number;
  freeMemoryGB: number;
  kernel: string;
  node: string;
  duckdb: string;
  /** First line of `--version` of the other toolchains (g++, rustc, go, the rules venv's python). */
  toolchains: Record<string, string>;
  gitCommit: string;
}

export interface BenchReportOptions {
  modes: string[];
  events: number[];
  runs: number;
  warmup: number;
  seed: number;
  users: number;
  days: number;
  distribution: string;
  rulesPath?: string;
  threads?: number;
  batchSize?: number;
  partitions?: number;
  /** Partition counts of the scaling sweep (monolith and split, on the first size; empty: none). */
  scalingPartitions: number[];
  /**
   * The split's line data went inside the ingest → parse stream's messages, not through shared
   * memory (`--inline-lines`). Absent in reports from before shared memory: those were inline.
   */
  inlineLines?: boolean;
}

/** One process's figures within a run. */
export interface ProcessFigures {
  /** e.g. "monolith", "ingest", "pipeline run (client)". */
  name: string;
  language: string;
  cpuSeconds: number | null;
  peakRssBytes: number;
}

/** A split stage's figures within a run, from the stage's own metrics. */
export interface StageFigures {
  stage: string;
  language: string;
  busySeconds: number;
  waitSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

/** One process run: one mode, one input size, one iteration. */
export interface RunRecord {
  mode: string;
  events: number;
  /** 1-based counted run index; 0 for a warm-up run. */
  run: number;
  warmup: boolean;
  /** Partition count when part of the scaling sweep, else null. */
  partitions: number | null;
  /** Lines per batch the engine used (its metrics.json), where it batches. */
  batchSize?: number | null;
  processWallSeconds: number;
  engineWallSeconds: number | null;
  /** Peak RSS of the mode: the child's, or (split) the sum over the stage processes. */
  peakRssBytes: number;
  checksum: string;
  batchLatencyMs: { p50: number; p95: number; p99: number } | null;
  /** CPU seconds of the whole run (split: the five stages' sum; the client is in `processes`). */
  cpuSeconds: number | null;
  processes: ProcessFigures[];
  /** Split only: each stage's figures from metrics.json. */
  stages: StageFigures[] | null;
  exitCode: number;
}

/** Median with the range over the counted runs. */
export interface Spread {
  median: number;
  min: number;
  max: number;
}

export interface ModeSummary {
  mode: string;
  label: string;
  events: number;
  bytes: number;
  runs: number;
  wallSeconds: Spread;
  engineWallSeconds: number | null;
  eventsPerSecond: Spread;
  engineEventsPerSecond: number | null;
  mbPerSecond: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  peakRssMB: number;
  cpuSeconds: number | null;
  checksum: string;
}

export interface RatioRow {
  events: number;
  monolithVsDuckdbSql: number | null;
  monolithVsDuckdbSqlEngine: number | null;
  monolithVsDuckdbOracle: number | null;
  splitVsMonolith: number | null;
  splitVsMonolithEngine: number | null;
  splitVsMonolithP99: number | null;
  ipcCpuShare: number | null;
  passthroughCpuRatio: number | null;
}

/** A process's figures for one mode and size: median CPU, highest RSS over the counted runs. */
export interface ProcessSummary {
  mode: string;
  events: number;
  name: string;
  language: string;
  cpuSeconds: number | null;
  peakRssMB: number;
}

/** A split stage for one mode and size, median over the counted runs. */
export interface StageSummary {
  mode: string;
  events: number;
  stage: string;
  language: string;
  busySeconds: number;
  waitSeconds: number;
  cpuSeconds: number;
  peakRssMB: number;
  /** 1 − min(busy, CPU) ÷ CPU: the stage's CPU not spent on its own work. */
  ipcShare: number | null;
}

/** One point of the scaling view. */
export interface ScalingPoint {
  mode: string;
  events: number;
  partitions: number;
  runs: number;
  eventsPerSecond: Spread;
  /** Split only: events ÷ the aggregate stage's busy seconds (its folding speed alone). */
  aggregateEventsPerSecond: number | null;
  /** Median events/s over that of the mode's smallest partition count; efficiency = speedup ÷ partition ratio. */
  speedup: number | null;
  efficiency: number | null;
  checksum: string;
}

export interface BenchReport {
  version: 2;
  id: string;
  origin: 'cli' | 'dashboard';
  /** ISO times. */
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  loadAverage: { before: number[]; after: number[] };
  options: BenchReportOptions;
  inputs: { events: number; path: string; bytes: number }[];
  summaries: ModeSummary[];
  ratios: RatioRow[];
  processes: ProcessSummary[];
  stages: StageSummary[];
  scaling: ScalingPoint[];
  runs: RunRecord[];
  checksumsAgree: boolean;
  problems: string[];
}
