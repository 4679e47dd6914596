// Two benchmark reports side by side: per mode and input size, throughput and p99 of each and
// whether the results' checksums match. A is the older run, B the newer; change is B against A.
// Two runs without an input size in common are compared per mode on each one's largest input
// (throughput compares across sizes; results cannot, their inputs differ).

import type { BenchReport, ModeSummary } from "@modular-runtime/pipeline/report-types";
import { byModeOrder } from "./benchReport";

export interface DiffRow {
  mode: string;
  /** Input sizes of A and B: equal, except when the runs share no size (null: not measured). */
  eventsA: number | null;
  eventsB: number | null;
  epsA: number | null;
  epsB: number | null;
  /** (B − A) ÷ A in percent; null when either side is missing. */
  changePct: number | null;
  p99A: number | null;
  p99B: number | null;
  /** "missing" when the mode and size was measured in only one of the runs, "other input" when
   *  the sizes differ. */
  checksum: "same" | "different" | "missing" | "other input";
}

/** Orders two reports oldest first. */
export function olderFirst(a: BenchReport, b: BenchReport): [BenchReport, BenchReport] {
  return Date.parse(a.startedAt) <= Date.parse(b.startedAt) ? [a, b] : [b, a];
}

function row(mode: string, x: ModeSummary | undefined, y: ModeSummary | undefined): DiffRow {
  const epsA = x?.eventsPerSecond.median ?? null;
  const epsB = y?.eventsPerSecond.median ?? null;
  return {
    mode,
    eventsA: x?.events ?? null,
    eventsB: y?.events ?? null,
    epsA,
    epsB,
    changePct: epsA !== null && epsB !== null && epsA > 0 ? ((epsB - epsA) / epsA) * 100 : null,
    p99A: x?.p99Ms ?? null,
    p99B: y?.p99Ms ?? null,
    checksum: !x || !y ? "missing" : x.events !== y.events ? "other input" : x.checksum === y.checksum ? "same" : "different",
  };
}

const largest = (r: BenchReport): ModeSummary[] => {
  const top = Math.max(...r.summaries.map((s) => s.events));
  return r.summaries.filter((s) => s.events === top);
};

export function diffReports(a: BenchReport, b: BenchReport): DiffRow[] {
  const key = (s: ModeSummary) => `${s.events}\u0000${s.mode}`;
  const inA = new Map(a.summaries.map((s) => [key(s), s]));
  const inB = new Map(b.summaries.map((s) => [key(s), s]));
  const shared = [...inA.keys()].some((k) => inB.has(k));
  if (!shared) {
    const la = largest(a);
    const lb = largest(b);
    const modes = [...new Set([...la, ...lb].map((s) => s.mode))];
    return modes
      .map((m) => row(m, la.find((s) => s.mode === m), lb.find((s) => s.mode === m)))
      .sort(byModeOrder);
  }
  const keys = [...new Set([...inA.keys(), ...inB.keys()])];
  return keys
    .map((k) => {
      const x = inA.get(k);
      const y = inB.get(k);
      return row((x ?? y)!.mode, x, y);
    })
    .sort((p, q) => (p.eventsA ?? p.eventsB ?? 0) - (q.eventsA ?? q.eventsB ?? 0) || byModeOrder(p, q));
}
