// The benchmark domain: the benchmark this browser is running (live state), the history the
// server lists, the runs fetched with their reports, which run is shown and which two are
// compared, and the last server error. Lives outside the view, so switching to the topology
// while a benchmark runs keeps it running and its progress.

import { create } from "zustand";
import type { BenchReport } from "@modular-runtime/pipeline/report-types";
import type { ProgressView, RunView } from "./benchAdapters";
import { DEFAULT_FORM, type BenchFormValues } from "./benchForm";
import { failLive, reduceLive, startLive, type LiveState } from "./benchLive";
import { parseReport } from "./benchReport";

export interface LoadedRun {
  run: RunView;
  report: BenchReport | null;
  /** Why there is no report to show ("" when there is one). */
  reportError: string;
}

export function toLoadedRun(run: RunView): LoadedRun {
  const parsed = parseReport(run.reportJson);
  return { run, report: parsed.report, reportError: parsed.report ? "" : run.error || parsed.error };
}

export interface BenchState {
  /** The form as typed (kept here so it survives switching views). */
  form: BenchFormValues;
  live: LiveState | null;
  /** Local Unix ms of the live state's t = 0 (Start or attach), to line it up with other events. */
  liveStartedAtMs: number;
  /** A RunBenchmark stream is open. */
  running: boolean;
  /** The last start/cancel/list/get failure, the server's message verbatim. */
  error: { action: string; code: string; message: string } | null;
  history: RunView[];
  historyLoaded: boolean;
  loaded: Record<string, LoadedRun>;
  selectedId: string | null;
  /** Up to two run ids to compare, in the order picked. */
  compareIds: string[];

  setForm(form: BenchFormValues): void;
  begin(): void;
  applyProgress(p: ProgressView, t: number): void;
  endLive(message: string, phase?: "failed" | "cancelled"): void;
  setRunning(running: boolean): void;
  setError(e: BenchState["error"]): void;
  setHistory(runs: RunView[]): void;
  putRun(run: RunView): void;
  select(id: string | null): void;
  toggleCompare(id: string): void;
  clearCompare(): void;
}

export const useBenchStore = create<BenchState>((set) => ({
  form: DEFAULT_FORM,
  live: null,
  liveStartedAtMs: 0,
  running: false,
  error: null,
  history: [],
  historyLoaded: false,
  loaded: {},
  selectedId: null,
  compareIds: [],

  setForm: (form) => set({ form }),
  begin: () => set({ live: startLive(), liveStartedAtMs: Date.now(), running: true, error: null }),
  applyProgress: (p, t) =>
    set((s) => {
      const live = reduceLive(s.live ?? startLive(), p, t);
      // The final message carries the run; when it has its report, show it at once.
      if (p.run && p.run.reportJson !== "") {
        return { live, loaded: { ...s.loaded, [p.run.id]: toLoadedRun(p.run) }, selectedId: p.run.id };
      }
      return { live };
    }),
  endLive: (message, phase = "failed") => set((s) => (s.live ? { live: failLive(s.live, message, phase) } : {})),
  setRunning: (running) => set({ running }),
  setError: (error) => set({ error }),
  setHistory: (history) =>
    set((s) => {
      // A run fetched while it was running has no report yet: forget it once it has ended.
      const loaded = { ...s.loaded };
      for (const r of history) if (loaded[r.id] && loaded[r.id].run.status !== r.status) delete loaded[r.id];
      return { history, historyLoaded: true, loaded };
    }),
  putRun: (run) => set((s) => ({ loaded: { ...s.loaded, [run.id]: toLoadedRun(run) } })),
  select: (selectedId) => set({ selectedId }),
  toggleCompare: (id) =>
    set((s) => {
      if (s.compareIds.includes(id)) return { compareIds: s.compareIds.filter((x) => x !== id) };
      // A third pick replaces the older of the two.
      return { compareIds: [...s.compareIds, id].slice(-2) };
    }),
  clearCompare: () => set({ compareIds: [] }),
}));
