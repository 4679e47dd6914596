// Every finished benchmark (dashboard and CLI), newest first: click one to show its result, tick
// two to compare them.

import { fmtEvents, fmtRatio, fmtWhen, type RunView } from "../benchAdapters";
import { MODE_SHORT } from "../benchReport";
import { useBenchStore } from "../benchStore";
import { benchGradeColor, benchModeColor, benchModeFallback, benchStatusColor } from "../theme";

/** The modes a person picked; duckdb-sql and the pass-through chain come along automatically. */
const PICKED = ["duckdb", "monolith", "split"];

function ratioColor(x: number | null): string {
  if (x === null) return benchGradeColor.none;
  return x >= 0.8 ? benchGradeColor.goal : x >= 0.5 ? benchGradeColor.floor : benchGradeColor.below;
}

function Row({ run, selected, compared }: { run: RunView; selected: boolean; compared: boolean }) {
  const select = useBenchStore((s) => s.select);
  const toggleCompare = useBenchStore((s) => s.toggleCompare);
  const modes = run.modes.filter((m) => PICKED.includes(m));
  const statusColor = benchStatusColor[run.status] ?? benchStatusColor.unknown;
  return (
    <li
      data-testid={`bench-history-${run.id}`}
      data-status={run.status}
      onClick={() => select(run.id)}
      className={`cursor-pointer border-l-2 px-2 py-1.5 ${selected ? "border-sky-400 bg-slate-800/70" : "border-transparent hover:bg-slate-800/40"}`}
    >
      <div className="flex items-center gap-2 text-sm">
        <input
          type="checkbox"
          data-testid={`bench-compare-${run.id}`}
          title="compare (pick two)"
          checked={compared}
          onClick={(e) => e.stopPropagation()}
          onChange={() => toggleCompare(run.id)}
          className="h-3.5 w-3.5"
        />
        <span className="text-slate-200">{fmtWhen(run.startedAtMs)}</span>
        <span className="rounded bg-slate-800 px-1 text-[10px] uppercase tracking-wide text-slate-400">{run.origin || "?"}</span>
        <span className="ml-auto text-xs font-semibold uppercase" style={{ color: statusColor }}>
          {run.status}
        </span>
      </div>
      <div className="flex items-center gap-2 pl-5 text-xs text-slate-400">
        <span className="tabular-nums text-slate-300">{run.events.map(fmtEvents).join(", ")}</span>
        <span className="flex gap-1">
          {modes.map((m) => (
            <span key={m} style={{ color: benchModeColor[m] ?? benchModeFallback }}>
              {MODE_SHORT[m] ?? m}
            </span>
          ))}
        </span>
        <span className="ml-auto tabular-nums" title="split / monolith throughput" style={{ color: ratioColor(run.splitVsMonolith) }}>
          {run.splitVsMonolith === null ? "" : `split ${fmtRatio(run.splitVsMonolith)}`}
        </span>
      </div>
      {run.error && (run.status === "failed" || run.status === "cancelled") && <div className="truncate pl-5 text-xs text-slate-500">{run.error}</div>}
    </li>
  );
}

export function BenchHistory() {
  const history = useBenchStore((s) => s.history);
  const loaded = useBenchStore((s) => s.historyLoaded);
  const selectedId = useBenchStore((s) => s.selectedId);
  const compareIds = useBenchStore((s) => s.compareIds);
  return (
    <section className="flex min-h-0 flex-1 flex-col">
      <div className="flex items-baseline gap-2 px-1">
        <h2 className="text-sm font-semibold uppercase tracking-wide text-slate-300">History</h2>
        <span className="text-xs text-slate-500">{compareIds.length === 2 ? "comparing two" : "tick two to compare"}</span>
      </div>
      <ul data-testid="bench-history" className="mt-1 min-h-0 flex-1 divide-y divide-slate-800/60 overflow-auto">
        {loaded && history.length === 0 && <li className="px-2 py-2 text-sm text-slate-500">No benchmarks yet.</li>}
        {history.map((r) => (
          <Row key={r.id} run={r} selected={r.id === selectedId} compared={compareIds.includes(r.id)} />
        ))}
      </ul>
    </section>
  );
}
