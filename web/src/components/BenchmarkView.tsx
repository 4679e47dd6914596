// The Benchmark view: DuckDB vs the C++ monolith vs the split chain, started from the browser.
// Left: the form and the history. Right: the live progress, a comparison of two runs when two
// are ticked, and the selected run's result. The shown run is in the URL (?run=<id>), so a shared
// link opens the same result. Every figure comes from the server's progress or report.

import { useEffect, useRef } from "react";
import { useBenchActions } from "../useBenchActions";
import { useBenchStore } from "../benchStore";
import { BenchDiff } from "./BenchDiff";
import { BenchForm } from "./BenchForm";
import { BenchHistory } from "./BenchHistory";
import { BenchProgress } from "./BenchProgress";
import { BenchResult } from "./BenchResult";

function writeRunParam(id: string | null): void {
  const p = new URLSearchParams(window.location.search);
  if (id) p.set("run", id);
  else p.delete("run");
  const s = p.toString();
  const next = `${window.location.pathname}${s ? `?${s}` : ""}${window.location.hash}`;
  if (next !== `${window.location.pathname}${window.location.search}${window.location.hash}`) window.history.replaceState(null, "", next);
}

/** Loads the history, picks the run to show (the URL's, else the newest) and fetches the reports
 *  of the shown and compared runs. */
function useBenchData(): void {
  const { refreshHistory, loadRun, attach } = useBenchActions();
  const history = useBenchStore((s) => s.history);
  const historyLoaded = useBenchStore((s) => s.historyLoaded);
  const selectedId = useBenchStore((s) => s.selectedId);
  const compareIds = useBenchStore((s) => s.compareIds);
  const loaded = useBenchStore((s) => s.loaded);
  const picked = useRef(false);

  useEffect(() => {
    void refreshHistory();
  }, [refreshHistory]);

  useEffect(() => {
    if (!historyLoaded || picked.current) return;
    picked.current = true;
    if (useBenchStore.getState().selectedId) return;
    const fromUrl = new URLSearchParams(window.location.search).get("run");
    useBenchStore.getState().select(fromUrl ?? history[0]?.id ?? null);
  }, [historyLoaded, history]);

  // A benchmark running on the server (started before a reload, or from another browser): follow it.
  const runningId = history.find((r) => r.status === "running")?.id;
  useEffect(() => {
    if (runningId && !useBenchStore.getState().running) void attach(runningId);
  }, [runningId, attach]);

  useEffect(() => {
    if (picked.current || selectedId) writeRunParam(selectedId);
  }, [selectedId]);

  const wanted = [selectedId, ...compareIds].filter((id): id is string => !!id && !loaded[id]);
  const wantedKey = [...new Set(wanted)].join(",");
  useEffect(() => {
    for (const id of wantedKey.split(",")) if (id) void loadRun(id);
  }, [wantedKey, loadRun]);
}

export function BenchmarkView() {
  useBenchData();
  return (
    <div data-testid="bench-view" className="flex min-h-0 min-w-0 flex-1">
      <aside className="flex w-[360px] shrink-0 flex-col gap-4 overflow-hidden border-r border-slate-800 bg-slate-950/60 p-4">
        <BenchForm />
        <BenchHistory />
      </aside>
      <div className="min-w-0 flex-1 overflow-y-auto">
        <div className="flex flex-col gap-4 p-4">
          <BenchProgress />
          <BenchDiff />
          <BenchResult />
        </div>
      </div>
    </div>
  );
}
