// Two runs compared: per mode and size, events/s of each and the change, p99 of each, and
// whether the results are the same (checksum). A is the older run.

import type { BenchReport } from "@modular-runtime/pipeline/report-types";
import { fmtEvents, fmtNum, fmtRate, fmtWhen } from "../benchAdapters";
import { diffReports, olderFirst, type DiffRow } from "../benchDiff";
import { MODE_SHORT } from "../benchReport";
import { useBenchStore } from "../benchStore";

function changeColor(pct: number | null): string {
  if (pct === null || Math.abs(pct) < 5) return "text-slate-300";
  return pct > 0 ? "text-emerald-300" : "text-red-300";
}

const CHECKSUM_TEXT: Record<DiffRow["checksum"], string> = {
  same: "same checksum",
  different: "different checksum",
  missing: "only in one run",
  "other input": "other input size",
};

const sizes = (r: DiffRow): string =>
  r.eventsA !== null && r.eventsB !== null && r.eventsA !== r.eventsB
    ? `${fmtEvents(r.eventsA)} → ${fmtEvents(r.eventsB)}`
    : fmtEvents((r.eventsA ?? r.eventsB)!);

function Table({ a, b }: { a: BenchReport; b: BenchReport }) {
  const rows = diffReports(a, b);
  const crossSize = rows.some((r) => r.checksum === "other input");
  return (
    <>
    {crossSize && <div className="mb-1 text-xs text-amber-300">No input size in common: each run's largest input is compared (throughput only; the results cannot match).</div>}
    <table data-testid="bench-diff" className="w-full text-sm">
      <thead className="text-xs text-slate-400">
        <tr className="text-right">
          <th className="py-1 pr-3 text-left font-normal">events</th>
          <th className="pr-3 text-left font-normal">mode</th>
          <th className="pr-3 font-normal">events/s A</th>
          <th className="pr-3 font-normal">events/s B</th>
          <th className="pr-3 font-normal">change</th>
          <th className="pr-3 font-normal">p99 ms A</th>
          <th className="pr-3 font-normal">p99 ms B</th>
          <th className="text-left font-normal">results</th>
        </tr>
      </thead>
      <tbody className="tabular-nums">
        {rows.map((r) => (
          <tr key={`${r.eventsA}-${r.eventsB}-${r.mode}`} data-testid={`bench-diff-row-${r.mode}`} className="whitespace-nowrap border-t border-slate-800 text-right">
            <td className="py-1 pr-3 text-left text-slate-400">{sizes(r)}</td>
            <td className="pr-3 text-left text-slate-100">{MODE_SHORT[r.mode] ?? r.mode}</td>
            <td className="pr-3 text-slate-300">{fmtRate(r.epsA)}</td>
            <td className="pr-3 text-slate-300">{fmtRate(r.epsB)}</td>
            <td className={`pr-3 font-semibold ${changeColor(r.changePct)}`}>
              {r.changePct === null ? "–" : `${r.changePct > 0 ? "+" : ""}${fmtNum(r.changePct, 1)} %`}
            </td>
            <td className="pr-3 text-slate-300">{fmtNum(r.p99A, 2)}</td>
            <td className="pr-3 text-slate-300">{fmtNum(r.p99B, 2)}</td>
            <td className={`text-left ${r.checksum === "different" ? "font-semibold text-red-300" : r.checksum === "same" ? "text-emerald-300" : "text-slate-500"}`}>
              {CHECKSUM_TEXT[r.checksum]}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
    </>
  );
}

export function BenchDiff() {
  const ids = useBenchStore((s) => s.compareIds);
  const loaded = useBenchStore((s) => s.loaded);
  const clear = useBenchStore((s) => s.clearCompare);
  if (ids.length !== 2) return null;
  const runs = ids.map((id) => loaded[id]);
  const missing = runs.some((r) => !r);
  const noReport = runs.filter((r) => r && !r.report);
  const pair = !missing && noReport.length === 0 ? olderFirst(runs[0]!.report!, runs[1]!.report!) : null;
  return (
    <section data-testid="bench-diff-panel" className="rounded-lg border border-sky-900/70 bg-slate-900/40 p-3">
      <div className="mb-2 flex flex-wrap items-baseline gap-x-3 text-sm">
        <h2 className="font-semibold text-slate-100">Compare</h2>
        {pair && (
          <>
            <span className="text-slate-400">
              A <span className="font-mono text-slate-300">{pair[0].id}</span> ({fmtWhen(Date.parse(pair[0].startedAt))}, commit {pair[0].machine.gitCommit})
            </span>
            <span className="text-slate-400">
              B <span className="font-mono text-slate-300">{pair[1].id}</span> ({fmtWhen(Date.parse(pair[1].startedAt))}, commit {pair[1].machine.gitCommit})
            </span>
          </>
        )}
        <button onClick={clear} className="ml-auto text-xs text-sky-400 hover:text-sky-300">
          close
        </button>
      </div>
      {missing && <div className="text-sm text-slate-500">Loading the reports…</div>}
      {!missing && noReport.length > 0 && (
        <div className="text-sm text-slate-400">Cannot compare: {noReport.map((r) => `${r!.run.id} has no report (${r!.run.status})`).join("; ")}.</div>
      )}
      {pair && <Table a={pair[0]} b={pair[1]} />}
    </section>
  );
}
