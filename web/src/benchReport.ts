// The benchmark report (bench.json, version 2) → rows for the Benchmark view's tables and charts.
// Every figure is read from the report; nothing is computed here that the report does not hold,
// except rearranging (per mode, per size) and the error-bar offsets (median − min, max − median).

import type { BenchReport, ModeSummary } from "@modular-runtime/pipeline/report-types";
import { fmtNum, fmtPct, fmtRatio } from "./benchAdapters";

/** The order modes appear in everywhere: the reference first, then the two builds. */
export const MODE_ORDER = ["duckdb", "duckdb-sql", "monolith", "split", "split-passthrough"] as const;

export const MODE_SHORT: Record<string, string> = {
  duckdb: "duckdb",
  "duckdb-sql": "duckdb-sql",
  monolith: "monolith",
  split: "split",
  "split-passthrough": "split pass-through",
};

const rank = (mode: string): number => {
  const i = (MODE_ORDER as readonly string[]).indexOf(mode);
  return i < 0 ? MODE_ORDER.length : i;
};
export const byModeOrder = <T extends { mode: string }>(a: T, b: T): number => rank(a.mode) - rank(b.mode) || a.mode.localeCompare(b.mode);

export type ParsedReport = { report: BenchReport; error: "" } | { report: null; error: string };

/** The report text as the server sent it → the typed report, or why it cannot be shown. */
export function parseReport(json: string): ParsedReport {
  if (json.trim() === "") return { report: null, error: "this run has no report" };
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    return { report: null, error: `the report is not JSON: ${(e as Error).message}` };
  }
  const v = (value as { version?: unknown } | null)?.version;
  if (v !== 2) return { report: null, error: `report version ${String(v ?? "missing")}; this view reads version 2` };
  return { report: value as BenchReport, error: "" };
}

/** Input sizes, ascending. */
export function reportSizes(r: BenchReport): number[] {
  const sizes = r.inputs.length ? r.inputs.map((i) => i.events) : r.summaries.map((s) => s.events);
  return [...new Set(sizes)].sort((a, b) => a - b);
}

export function largestSize(r: BenchReport): number | null {
  const s = reportSizes(r);
  return s.length ? s[s.length - 1] : null;
}

/** The summaries of one input size, in mode order. */
export function summariesFor(r: BenchReport, events: number): ModeSummary[] {
  return r.summaries.filter((s) => s.events === events).sort(byModeOrder);
}

// ---- checksum verdict ----

export interface ChecksumGroup {
  checksum: string;
  modes: string[];
}

export interface Verdict {
  /** The report's own verdict (every run of every mode and size agrees). */
  agree: boolean;
  /** Per size, the distinct checksums and which modes produced them (pass-through excluded:
   *  it forwards batches unchanged and writes no results). */
  sizes: { events: number; groups: ChecksumGroup[] }[];
  problems: string[];
}

export function verdict(r: BenchReport): Verdict {
  const sizes = reportSizes(r).map((events) => {
    const groups: ChecksumGroup[] = [];
    for (const s of summariesFor(r, events)) {
      if (s.mode === "split-passthrough") continue;
      const g = groups.find((x) => x.checksum === s.checksum);
      if (g) g.modes.push(s.mode);
      else groups.push({ checksum: s.checksum, modes: [s.mode] });
    }
    return { events, groups };
  });
  return { agree: r.checksumsAgree, sizes, problems: r.problems };
}

// ---- throughput, latency, processes, stages ----

export interface ThroughputRow {
  mode: string;
  name: string;
  median: number;
  min: number;
  max: number;
  /** Error bar offsets below and above the median. */
  range: [number, number];
  runs: number;
}

export function throughputRows(r: BenchReport, events: number): ThroughputRow[] {
  return summariesFor(r, events).map((s) => ({
    mode: s.mode,
    name: MODE_SHORT[s.mode] ?? s.mode,
    median: s.eventsPerSecond.median,
    min: s.eventsPerSecond.min,
    max: s.eventsPerSecond.max,
    range: [s.eventsPerSecond.median - s.eventsPerSecond.min, s.eventsPerSecond.max - s.eventsPerSecond.median],
    runs: s.runs,
  }));
}

export interface LatencyRow {
  mode: string;
  name: string;
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

/** Batch latency per mode; `missing` names the modes without any percentile (DuckDB has no batches). */
export function latencyRows(r: BenchReport, events: number): { rows: LatencyRow[]; missing: string[] } {
  const all = summariesFor(r, events).map((s) => ({ mode: s.mode, name: MODE_SHORT[s.mode] ?? s.mode, p50: s.p50Ms, p95: s.p95Ms, p99: s.p99Ms }));
  const has = (x: LatencyRow) => x.p50 !== null || x.p95 !== null || x.p99 !== null;
  return { rows: all.filter(has), missing: all.filter((x) => !has(x)).map((x) => x.mode) };
}

export interface ProcessRow {
  /** Unique category label: "split · ingest". */
  key: string;
  mode: string;
  name: string;
  language: string;
  cpuSeconds: number | null;
  peakRssMB: number;
}

/** "monolith", "duckdb" for a mode that is one process; "split · ingest", "split · client" for a stage. */
export function processLabel(mode: string, name: string): string {
  const short = MODE_SHORT[mode] ?? mode;
  if (name === mode || name === `pipeline run --mode ${mode}`) return short;
  if (name === "pipeline run (client)") return `${short} · client`;
  return `${short} · ${name}`;
}

export function processRows(r: BenchReport, events: number): ProcessRow[] {
  return r.processes
    .filter((p) => p.events === events)
    .sort(byModeOrder)
    .map((p) => ({
      key: processLabel(p.mode, p.name),
      mode: p.mode,
      name: p.name,
      language: p.language,
      cpuSeconds: p.cpuSeconds,
      peakRssMB: p.peakRssMB,
    }));
}

export interface StageRow {
  stage: string;
  language: string;
  /** ipcShare as a percentage, null when not known. */
  ipcPercent: number | null;
  busySeconds: number;
  waitSeconds: number;
  cpuSeconds: number;
  peakRssMB: number;
}

/** The split's stages in chain order (as the report lists them). */
export function stageRows(r: BenchReport, events: number, mode = "split"): StageRow[] {
  return r.stages
    .filter((s) => s.mode === mode && s.events === events)
    .map((s) => ({
      stage: s.stage,
      language: s.language,
      ipcPercent: s.ipcShare === null ? null : s.ipcShare * 100,
      busySeconds: s.busySeconds,
      waitSeconds: s.waitSeconds,
      cpuSeconds: s.cpuSeconds,
      peakRssMB: s.peakRssMB,
    }));
}

// ---- headline ratios ----

export type Grade = "goal" | "floor" | "below" | "none";

export interface Headline {
  key: "splitVsMonolith" | "splitVsMonolithP99" | "monolithVsDuckdbSql" | "ipcCpuShare";
  label: string;
  value: number | null;
  text: string;
  /** Targets from DESIGN.md §6, as text for the card. */
  target: string;
  grade: Grade;
}

function grade(value: number | null, floor: number, goal: number, higherIsBetter: boolean): Grade {
  if (value === null || !Number.isFinite(value)) return "none";
  if (higherIsBetter) return value >= goal ? "goal" : value >= floor ? "floor" : "below";
  return value <= goal ? "goal" : value <= floor ? "floor" : "below";
}

export function headlines(r: BenchReport, events: number): Headline[] {
  const x = r.ratios.find((q) => q.events === events);
  const v = (n: number | null | undefined) => (n === undefined ? null : n);
  const split = v(x?.splitVsMonolith);
  const p99 = v(x?.splitVsMonolithP99);
  const mono = v(x?.monolithVsDuckdbSql);
  const ipc = v(x?.ipcCpuShare);
  return [
    { key: "splitVsMonolith", label: "split / monolith throughput", value: split, text: fmtRatio(split), target: "floor 0.5× · goal 0.8×", grade: grade(split, 0.5, 0.8, true) },
    { key: "splitVsMonolithP99", label: "split / monolith p99 latency", value: p99, text: fmtRatio(p99), target: "≤ 2× · goal ≤ 1.5×", grade: grade(p99, 2, 1.5, false) },
    { key: "monolithVsDuckdbSql", label: "monolith / duckdb-sql throughput", value: mono, text: fmtRatio(mono), target: "floor 1.0× · goal 1.5×", grade: grade(mono, 1, 1.5, true) },
    { key: "ipcCpuShare", label: "split CPU spent on IPC", value: ipc, text: fmtPct(ipc), target: "≤ 30 % · goal ≤ 15 %", grade: grade(ipc, 0.3, 0.15, false) },
  ];
}

// ---- scaling ----

export interface ScalingRow {
  partitions: number;
  monolith: number | null;
  monolithMin: number | null;
  monolithMax: number | null;
  split: number | null;
  splitMin: number | null;
  splitMax: number | null;
  /** The split's aggregate stage alone (events ÷ its busy seconds). */
  splitAggregate: number | null;
  /** Against the mode's smallest partition count (from the report; null in older reports). */
  monolithSpeedup: number | null;
  splitSpeedup: number | null;
}

export function scalingRows(r: BenchReport): { events: number | null; rows: ScalingRow[] } {
  const ps = [...new Set(r.scaling.map((p) => p.partitions))].sort((a, b) => a - b);
  const rows = ps.map((partitions) => {
    const m = r.scaling.find((p) => p.mode === "monolith" && p.partitions === partitions);
    const s = r.scaling.find((p) => p.mode === "split" && p.partitions === partitions);
    return {
      partitions,
      monolith: m?.eventsPerSecond.median ?? null,
      monolithMin: m?.eventsPerSecond.min ?? null,
      monolithMax: m?.eventsPerSecond.max ?? null,
      split: s?.eventsPerSecond.median ?? null,
      splitMin: s?.eventsPerSecond.min ?? null,
      splitMax: s?.eventsPerSecond.max ?? null,
      splitAggregate: s?.aggregateEventsPerSecond ?? null,
      monolithSpeedup: m?.speedup ?? null,
      splitSpeedup: s?.speedup ?? null,
    };
  });
  return { events: r.scaling[0]?.events ?? null, rows };
}

// ---- context lines ----

/** The machine, since the numbers mean nothing without it. */
export function machineLine(r: BenchReport): string {
  const m = r.machine;
  // Older reports have no toolchains.
  const tools = Object.values(m.toolchains ?? {}).filter((v) => v !== "");
  return [
    `${m.cores} cores`,
    m.cpuModel,
    `${fmtNum(m.memoryGB, 1)} GB RAM (${fmtNum(m.freeMemoryGB, 1)} free)`,
    `Linux ${m.kernel}`,
    `Node ${m.node}`,
    `DuckDB ${m.duckdb}`,
    ...tools,
    `commit ${m.gitCommit}`,
  ].join(" · ");
}

export function loadLine(r: BenchReport): string {
  const f = (xs: number[]) => (xs.length ? xs.map((x) => fmtNum(x, 2)).join(" / ") : "–");
  return `load average (1/5/15 min) ${f(r.loadAverage.before)} at start → ${f(r.loadAverage.after)} at end`;
}

export function optionsLine(r: BenchReport): string {
  const o = r.options;
  const dflt = (n: number | undefined) => (n ? fmtNum(n) : "default");
  return (
    `${o.distribution} · seed ${o.seed} · batch ${dflt(o.batchSize)} · partitions ${dflt(o.partitions)} · ` +
    `${o.warmup} warm-up + ${o.runs} counted run${o.runs === 1 ? "" : "s"} per mode (median, min–max)` +
    (o.scalingPartitions.length ? ` · scaling ${o.scalingPartitions.join(", ")}` : "")
  );
}
