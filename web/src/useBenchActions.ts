// The Benchmark view's calls: start (one RunBenchmark stream), cancel, list and fetch runs.
// The running stream is owned here, at module level, not by a component: leaving the view (to
// show the topology while the split runs) keeps following it. Benchmarks start detached, so a
// reload or a second browser follows the running one with WatchRun; only Cancel stops it.

import { useCallback } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { BenchmarkService, type BenchmarkProgress } from "@modular-runtime/proto/runtime/v1/benchmark";
import { toProgressView, toRunView } from "./benchAdapters";
import type { BenchRequest } from "./benchForm";
import { useBenchStore } from "./benchStore";
import { useClient } from "./useClient";

/** The open RunBenchmark stream, if any. */
let stream: AbortController | null = null;
/** Runs being fetched, so a re-render does not ask twice. */
const fetching = new Set<string>();
/** After Cancel, how long to wait for the server's CANCELLED before dropping the stream. */
const CANCEL_GRACE_MS = 10_000;

function report(action: string, err: unknown): void {
  const e = ConnectError.from(err);
  useBenchStore.getState().setError({ action, code: Code[e.code] ?? String(e.code), message: e.rawMessage });
}

export function useBenchActions() {
  const client = useClient(BenchmarkService);

  const refreshHistory = useCallback(async () => {
    try {
      const res = await client.listRuns({ limit: 50 });
      useBenchStore.getState().setHistory(res.runs.map(toRunView));
    } catch (err) {
      report("history", err);
    }
  }, [client]);

  const loadRun = useCallback(
    async (id: string) => {
      if (fetching.has(id)) return;
      fetching.add(id);
      try {
        useBenchStore.getState().putRun(toRunView(await client.getRun({ runId: id })));
      } catch (err) {
        report(`run ${id}`, err);
      } finally {
        fetching.delete(id);
      }
    },
    [client],
  );

  /** Follows one progress stream to its end: the live state, the history, then the result. */
  const follow = useCallback(
    async (abort: AbortController, open: () => AsyncIterable<BenchmarkProgress>) => {
      const t0 = performance.now();
      let finalId = "";
      try {
        let listed = false;
        for await (const m of open()) {
          const p = toProgressView(m);
          useBenchStore.getState().applyProgress(p, (performance.now() - t0) / 1000);
          if (p.run) finalId = p.run.id;
          // The history lists the running benchmark too: show it as soon as it has an id.
          if (!listed && p.runId) {
            listed = true;
            void refreshHistory();
          }
        }
        if (!finalId) useBenchStore.getState().endLive("the server ended the stream without a result");
      } catch (err) {
        if (abort.signal.aborted) {
          useBenchStore.getState().endLive("stopped following it in this browser", "cancelled");
        } else {
          report("progress", err);
          useBenchStore.getState().endLive(ConnectError.from(err).rawMessage);
        }
      } finally {
        if (stream === abort) stream = null;
        useBenchStore.getState().setRunning(false);
      }
      await refreshHistory();
      // The final message may come without the report texts; then fetch them.
      if (finalId) {
        const s = useBenchStore.getState();
        if (!s.loaded[finalId]) await loadRun(finalId);
        useBenchStore.getState().select(finalId);
      }
    },
    [refreshHistory, loadRun],
  );

  const start = useCallback(
    async (r: BenchRequest) => {
      if (stream) return;
      const abort = new AbortController();
      stream = abort;
      useBenchStore.getState().begin();
      // Detached: a reload or a dropped connection does not cancel it; Cancel does (CancelRun).
      const request = {
        modes: r.modes,
        events: [BigInt(r.events)],
        distribution: r.distribution,
        batchSize: r.batchSize,
        partitions: r.partitions,
        warmupRuns: r.warmupRuns,
        runs: r.runs,
        scalingPartitions: r.scalingPartitions,
        skipPassthrough: r.skipPassthrough ?? false,
        detach: true,
      };
      await follow(abort, () => client.runBenchmark(request, { signal: abort.signal }));
    },
    [client, follow],
  );

  /** Follows a benchmark that runs already (started before a reload, or by another browser). */
  const attach = useCallback(
    async (runId: string) => {
      if (stream) return;
      const abort = new AbortController();
      stream = abort;
      useBenchStore.getState().begin();
      await follow(abort, () => client.watchRun({ runId }, { signal: abort.signal }));
    },
    [client, follow],
  );

  const cancel = useCallback(async () => {
    const current = stream;
    if (!current) return;
    const id = useBenchStore.getState().live?.runId ?? "";
    // Ask the server, so the stream ends with its CANCELLED message and the run is kept.
    if (id) {
      try {
        await client.cancelRun({ runId: id });
        setTimeout(() => current.abort(), CANCEL_GRACE_MS);
        return;
      } catch (err) {
        report("cancel", err);
      }
    }
    current.abort();
  }, [client]);

  return { start, attach, cancel, refreshHistory, loadRun };
}
