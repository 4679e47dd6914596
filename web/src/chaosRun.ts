// The pipeline run watched through chaos: the benchmark it starts (the monolith for the reference
// checksum, then the split), the verdict on its checksums, and the timeline's rows and markers
// (fault events and process restarts lined up with the run's events/s). Pure.

import type { BenchReport } from "@modular-runtime/pipeline/report-types";
import type { CompletedView } from "./benchAdapters";
import type { BenchRequest } from "./benchForm";
import type { LiveTick } from "./benchLive";
import { faultParamText, type FaultEventView } from "./chaosAdapters";
import type { ProcessEvent } from "./processEvents";
import { faultEventColor } from "./theme";

export const RUN_SIZES = [1_000_000, 3_000_000, 10_000_000] as const;

/** One counted run each of the monolith (reference) and the split, no warm-up, no pass-through chain. */
export function chaosRunRequest(events: number): BenchRequest {
  return { modes: ["monolith", "split"], events, distribution: "uniform", batchSize: 0, partitions: 0, warmupRuns: 0, runs: 1, scalingPartitions: [], skipPassthrough: true };
}

// ---- verdict ----

export type VerdictKind = "identical" | "different" | "incomplete";

export interface ChaosVerdict {
  kind: VerdictKind;
  split: string;
  monolith: string;
  /** Why there is no verdict (kind "incomplete"), else "". */
  reason: string;
}

function judge(monolith: string, split: string, missing: string): ChaosVerdict {
  if (!monolith || !split) {
    return { kind: "incomplete", monolith, split, reason: missing || `no ${!split ? "split" : "monolith"} checksum` };
  }
  return { kind: monolith === split ? "identical" : "different", monolith, split, reason: "" };
}

/** From the report: the monolith's and the split's checksums on the largest input. A split run
 *  that failed has no summary, so there is no verdict and the report's problems say why. */
export function verdictFromReport(r: BenchReport): ChaosVerdict {
  const largest = Math.max(0, ...r.summaries.map((s) => s.events));
  const get = (mode: string) => r.summaries.find((s) => s.mode === mode && s.events === largest)?.checksum ?? "";
  return judge(get("monolith"), get("split"), r.problems.join("; "));
}

/** Before the report: from the finished process runs as they arrive (counted runs only). */
export function verdictFromCompleted(completed: readonly CompletedView[]): ChaosVerdict | null {
  const last = (mode: string) => [...completed].reverse().find((c) => c.mode === mode && !c.warmup && c.partitions === 0);
  const mono = last("monolith");
  const split = last("split");
  if (!mono || !split) return null;
  const failed = [mono, split].filter((c) => c.exitCode !== 0).map((c) => `${c.mode} exited ${c.exitCode}`);
  return judge(mono.exitCode === 0 ? mono.checksum : "", split.exitCode === 0 ? split.checksum : "", failed.join("; "));
}

// ---- timeline ----

export type MarkerKind = "crashed" | "injected" | "cleared" | "expired" | "restart";

export interface TimelineMarker {
  key: string;
  /** Seconds since the run's t = 0. */
  t: number;
  kind: MarkerKind;
  label: string;
  color: string;
}

const FAULT_MARKER: Partial<Record<FaultEventView["kind"], MarkerKind>> = {
  CRASHED: "crashed",
  INJECTED: "injected",
  CLEARED: "cleared",
  EXPIRED: "expired",
};

export function markerLabel(kind: MarkerKind, e: FaultEventView | null, process = ""): string {
  if (kind === "restart") return `↻ ${process}`;
  const f = e!.fault;
  if (kind === "crashed") return `✕ kill ${f.target}`;
  const what = `${faultParamText(f.type, f.params)} ${f.target}`;
  if (kind === "injected") return what;
  return `${kind} ${what}`;
}

/**
 * Markers within [startMs, endMs] (local Unix ms), at seconds since startMs. Fault events carry
 * the server's clock: `offsetMs` (server − local) brings them to this browser's. Process events
 * carry the local time they were seen at; only restarts are marked (an exit is already marked by
 * its CRASHED fault, or shows as the restart right after it).
 */
export function timelineMarkers(
  faultEvents: readonly FaultEventView[],
  processEvents: readonly ProcessEvent[],
  startMs: number,
  endMs: number,
  offsetMs = 0,
): TimelineMarker[] {
  const out: TimelineMarker[] = [];
  const within = (ms: number) => ms >= startMs && ms <= endMs;
  for (const e of faultEvents) {
    const kind = FAULT_MARKER[e.kind];
    const local = e.atMs - offsetMs;
    if (!kind || !within(local)) continue;
    out.push({ key: `f-${e.fault.id}-${e.kind}-${e.atMs}`, t: (local - startMs) / 1000, kind, label: markerLabel(kind, e), color: faultEventColor[kind] });
  }
  for (const p of processEvents) {
    if (p.kind !== "restarted" || !within(p.atMs)) continue;
    out.push({ key: `p-${p.name}-${p.restarts}-${p.atMs}`, t: (p.atMs - startMs) / 1000, kind: "restart", label: markerLabel("restart", null, p.name), color: faultEventColor.restart });
  }
  return out.sort((a, b) => a.t - b.t);
}

// ---- smoothing ----

/** The benchmark's rate is per 250 ms sample, and a reader that takes its input in large chunks
 *  under backpressure swings between 0 and several times its real rate from one to the next. For
 *  the timeline each tick's rate is taken over the last `windowSeconds` of its process run
 *  instead (from events done), so a stall shows as the dip it is and nothing else does. */
export function smoothTicks(ticks: readonly LiveTick[], windowSeconds = 1): LiveTick[] {
  return ticks.map((k, i) => {
    let j = i;
    while (j > 0 && ticks[j - 1].mode === k.mode && ticks[j - 1].step === k.step && k.t - ticks[j - 1].t <= windowSeconds + 1e-9) j--;
    const from = ticks[j];
    if (j === i || k.t <= from.t || k.eventsDone === 0) return k;
    return { ...k, eventsPerSecond: Math.max(0, (k.eventsDone - from.eventsDone) / (k.t - from.t)) };
  });
}

// ---- the graph's rate, where the benchmark has none ----

/** The split's events/s as the graph shows it (the ingest → parse edge), sampled while a split
 *  process run is going. The benchmark reads a run's progress from its reader's file position,
 *  which ingest's positional reads do not move: without these the split would show no rate. */
export interface RateSample {
  t: number;
  mode: string;
  step: number;
  eventsPerSecond: number;
}

/** The edge whose items/s is the split's input rate. */
export const SPLIT_INPUT_EDGE = "ingest->parse";

const runKey = (x: { mode: string; step: number }) => `${x.mode}#${x.step}`;

/** The benchmark's ticks, with the graph's samples standing in for every process run whose
 *  ticks carry no rate at all. */
export function timelineTicks(ticks: readonly LiveTick[], samples: readonly RateSample[]): LiveTick[] {
  const measured = new Set(ticks.filter((k) => k.eventsPerSecond > 0).map(runKey));
  const graph = samples.filter((s) => !measured.has(runKey(s))).map((s) => ({ ...s, eventsDone: 0 }));
  const bench = ticks.filter((k) => measured.has(runKey(k)) || !graph.some((g) => runKey(g) === runKey(k)));
  return [...bench, ...graph].sort((a, b) => a.t - b.t);
}

/** Events of one process run estimated from the graph's rate (trapezoids over the samples),
 *  never past the input's size. Replays after a kill count again: it is an estimate. */
export function estimateDone(samples: readonly RateSample[], mode: string, step: number, total: number): number {
  const run = samples.filter((s) => s.mode === mode && s.step === step);
  let sum = 0;
  for (let i = 1; i < run.length; i++) sum += ((run[i].eventsPerSecond + run[i - 1].eventsPerSecond) / 2) * (run[i].t - run[i - 1].t);
  return Math.min(total, Math.round(sum));
}

/** A round axis top at or above `n`: 1, 2, 2.5, 5 × a power of ten ("600k", not "589.8k"). */
export function niceCeil(n: number): number {
  if (!(n > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(n));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= n - 1e-9 * p) return m * p;
  return 10 * p;
}


