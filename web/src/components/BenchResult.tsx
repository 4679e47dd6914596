// One finished benchmark, read from its report: the checksum verdict first (the point of the
// comparison), the machine it ran on, the headline ratios against their targets, the table per
// mode, then the charts. Export hands out the server's own Markdown and JSON, byte for byte.

import { useMemo, useState } from "react";
import type { BenchReport } from "@modular-runtime/pipeline/report-types";
import { checksumPrefix, fmtDuration, fmtEvents, fmtNum, fmtRate, fmtWhen, type RunView } from "../benchAdapters";
import {
  MODE_SHORT,
  headlines,
  largestSize,
  latencyRows,
  loadLine,
  machineLine,
  optionsLine,
  processRows,
  reportSizes,
  scalingRows,
  stageRows,
  summariesFor,
  throughputRows,
  verdict,
} from "../benchReport";
import { useBenchStore, type LoadedRun } from "../benchStore";
import { benchGradeColor, benchModeColor, benchModeFallback, benchStatusColor } from "../theme";
import { Card, IpcChart, LatencyChart, ProcessesChart, ScalingChart, ThroughputChart } from "./BenchCharts";

/** Saves text as a file through a Blob URL (the browser's own download). */
function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url;
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function StatusBadge({ status }: { status: string }) {
  const color = benchStatusColor[status] ?? benchStatusColor.unknown;
  return (
    <span className="rounded px-1.5 py-0.5 text-[11px] font-semibold uppercase tracking-wide" style={{ color, background: `${color}22` }}>
      {status}
    </span>
  );
}

function Verdict({ report }: { report: BenchReport }) {
  const v = verdict(report);
  const differ = v.sizes.some((s) => s.groups.length > 1);
  const title = v.agree ? "All checksums agree" : differ ? "Checksums differ" : "Problems: not every run succeeded";
  return (
    <div
      data-testid="bench-verdict"
      data-agree={String(v.agree)}
      className={`rounded-lg border-2 px-4 py-3 ${v.agree ? "border-emerald-500/70 bg-emerald-500/10" : "border-red-500/80 bg-red-500/15"}`}
    >
      <div className="flex flex-wrap items-baseline gap-x-5 gap-y-1">
        <span className={`text-2xl font-bold ${v.agree ? "text-emerald-300" : "text-red-300"}`}>
          {v.agree ? "✓" : "✗"} {title}
        </span>
        {v.sizes.map((s) => (
          <span key={s.events} className="text-sm text-slate-300">
            {fmtEvents(s.events)} events:{" "}
            {s.groups.map((g, i) => (
              <span key={g.checksum + i} className="mr-2">
                <code className={`font-mono text-base ${s.groups.length > 1 ? "text-red-200" : "text-slate-100"}`}>{checksumPrefix(g.checksum)}</code>{" "}
                <span className="text-slate-400">({g.modes.map((m) => MODE_SHORT[m] ?? m).join(", ")})</span>
              </span>
            ))}
          </span>
        ))}
      </div>
      {v.problems.length > 0 && (
        <ul className="mt-1 list-disc pl-5 text-sm text-red-200">
          {v.problems.map((p) => (
            <li key={p} className="break-all">
              {p}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

function Headlines({ report, events }: { report: BenchReport; events: number }) {
  return (
    <div data-testid="bench-headlines" className="grid grid-cols-4 gap-3">
      {headlines(report, events).map((h) => (
        <div key={h.key} data-testid={`bench-headline-${h.key}`} data-grade={h.grade} className="rounded-lg border border-slate-800 bg-slate-900/40 px-3 py-2">
          <div className="text-xs text-slate-400">{h.label}</div>
          <div className="text-3xl font-semibold tabular-nums" style={{ color: benchGradeColor[h.grade] }}>
            {h.text}
          </div>
          <div className="text-xs text-slate-500">
            {h.target}
            {h.grade === "none" && " · not measured"}
          </div>
        </div>
      ))}
    </div>
  );
}

function ResultsTable({ report, events }: { report: BenchReport; events: number }) {
  const rows = summariesFor(report, events);
  return (
    <div className="overflow-x-auto rounded-lg border border-slate-800">
      <table data-testid="bench-results" className="w-full text-sm">
        <thead className="bg-slate-900/60 text-xs text-slate-400">
          <tr className="whitespace-nowrap text-right">
            <th className="px-2 py-1.5 text-left font-normal">mode</th>
            <th className="px-2 font-normal">runs</th>
            <th className="px-2 font-normal">events/s</th>
            <th className="px-2 font-normal">min–max</th>
            <th className="px-2 font-normal">wall s</th>
            <th className="px-2 font-normal">MB/s</th>
            <th className="px-2 font-normal">p50 ms</th>
            <th className="px-2 font-normal">p95 ms</th>
            <th className="px-2 font-normal">p99 ms</th>
            <th className="px-2 font-normal">CPU s</th>
            <th className="px-2 font-normal">peak RSS MB</th>
            <th className="px-2 text-left font-normal">checksum</th>
          </tr>
        </thead>
        <tbody className="tabular-nums">
          {rows.map((s) => (
            <tr key={s.mode} data-testid={`bench-row-${s.mode}`} className="whitespace-nowrap border-t border-slate-800 text-right">
              <td className="px-2 py-1.5 text-left whitespace-nowrap" title={s.label}>
                <span className="mr-2 inline-block h-2.5 w-2.5 rounded-full" style={{ background: benchModeColor[s.mode] ?? benchModeFallback }} />
                <span className="text-slate-100">{MODE_SHORT[s.mode] ?? s.mode}</span>
              </td>
              <td className="px-2 text-slate-400">{s.runs}</td>
              <td className="px-2 text-base font-semibold text-slate-50">{fmtRate(s.eventsPerSecond.median)}</td>
              <td className="px-2 whitespace-nowrap text-slate-400">
                {fmtRate(s.eventsPerSecond.min)} – {fmtRate(s.eventsPerSecond.max)}
              </td>
              <td className="px-2 text-slate-300">{fmtNum(s.wallSeconds.median, 2)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.mbPerSecond, 1)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.p50Ms, 2)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.p95Ms, 2)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.p99Ms, 2)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.cpuSeconds, 2)}</td>
              <td className="px-2 text-slate-300">{fmtNum(s.peakRssMB)}</td>
              <td className="px-2 text-left font-mono text-slate-400">{checksumPrefix(s.checksum)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ReportView({ report }: { report: BenchReport }) {
  const sizes = useMemo(() => reportSizes(report), [report]);
  const [picked, setPicked] = useState<number | null>(null);
  const events = picked !== null && sizes.includes(picked) ? picked : (largestSize(report) ?? 0);
  const latency = latencyRows(report, events);
  const ratio = report.ratios.find((r) => r.events === events);
  const scaling = scalingRows(report);
  const stages = stageRows(report, events);
  return (
    <div className="flex flex-col gap-3">
      <Verdict report={report} />
      <div data-testid="bench-machine" className="rounded-lg border border-slate-800 bg-slate-900/40 px-3 py-2 text-sm text-slate-300">
        <div>{machineLine(report)}</div>
        <div className="text-xs text-slate-400">
          {loadLine(report)} · {optionsLine(report)}
        </div>
      </div>
      {sizes.length > 1 && (
        <div className="flex items-center gap-2 text-sm">
          <span className="text-slate-400">input size</span>
          {sizes.map((s) => (
            <button
              key={s}
              data-testid={`bench-size-${s}`}
              onClick={() => setPicked(s)}
              className={`rounded border px-2 py-0.5 ${s === events ? "border-sky-400 text-sky-300" : "border-slate-700 text-slate-300 hover:border-slate-400"}`}
            >
              {fmtEvents(s)}
            </button>
          ))}
        </div>
      )}
      <Headlines report={report} events={events} />
      <ResultsTable report={report} events={events} />
      <div className="grid grid-cols-2 gap-3">
        <Card testId="bench-chart-throughput" title={`Throughput · ${fmtEvents(events)} events`} subtitle="events/s, median of the counted runs; whiskers: min–max">
          <ThroughputChart rows={throughputRows(report, events)} />
        </Card>
        <Card
          testId="bench-chart-latency"
          title="Batch latency"
          subtitle={
            latency.missing.length > 0
              ? `milliseconds, median over the counted runs · not available (no batches): ${latency.missing.map((m) => MODE_SHORT[m] ?? m).join(", ")}`
              : "milliseconds, median over the counted runs"
          }
        >
          <LatencyChart rows={latency.rows} />
        </Card>
        <Card
          testId="bench-chart-processes"
          className="col-span-2"
          title={`CPU and memory per process · ${fmtEvents(events)} events`}
          subtitle="median CPU seconds and highest peak RSS over the counted runs; the split is five processes plus its client"
        >
          <ProcessesChart rows={processRows(report, events)} />
        </Card>
        <Card
          testId="bench-chart-ipc"
          className={scaling.rows.length ? "" : "col-span-2"}
          title="Split: CPU share spent on IPC"
          subtitle="per stage, 1 − own work ÷ CPU: serialisation, transport and runtime around the messages"
        >
          <IpcChart rows={stages} overall={ratio?.ipcCpuShare ?? null} passthroughRatio={ratio?.passthroughCpuRatio ?? null} />
        </Card>
        {scaling.rows.length > 0 && (
          <Card
            testId="bench-chart-scaling"
            title={`Scaling · ${scaling.events === null ? "" : `${fmtEvents(scaling.events)} events · `}${report.machine.cores} cores`}
            subtitle="events/s (median, log scale) against aggregation partitions; small ×: speedup over the fewest partitions; dashed: the split's aggregate stage alone"
          >
            <ScalingChart rows={scaling.rows} cores={report.machine.cores} />
          </Card>
        )}
      </div>
    </div>
  );
}

function ResultHeader({ run, loaded }: { run: RunView; loaded: LoadedRun | undefined }) {
  // While a benchmark runs, the result below it is an earlier one: say so.
  const earlier = useBenchStore((s) => s.running && s.live?.runId !== run.id);
  const hasReport = !!loaded && loaded.run.reportMarkdown !== "";
  const seconds = run.finishedAtMs > run.startedAtMs ? (run.finishedAtMs - run.startedAtMs) / 1000 : NaN;
  const exportButton = (kind: "md" | "json") => (
    <button
      data-testid={`bench-export-${kind}`}
      disabled={!hasReport}
      onClick={() =>
        loaded &&
        download(
          `bench-${run.id}.${kind}`,
          kind === "md" ? loaded.run.reportMarkdown : loaded.run.reportJson,
          kind === "md" ? "text/markdown;charset=utf-8" : "application/json;charset=utf-8",
        )
      }
      className="rounded border border-slate-600 px-2.5 py-1 text-xs text-slate-200 hover:border-sky-400 hover:text-sky-300 disabled:cursor-not-allowed disabled:opacity-40"
    >
      ⤓ bench-{run.id.slice(-6)}.{kind}
    </button>
  );
  return (
    <div className="flex flex-wrap items-center gap-x-3 gap-y-1">
      <h2 className="text-lg font-semibold text-slate-100">{earlier ? "Earlier result" : "Result"}</h2>
      <StatusBadge status={run.status} />
      <span className="font-mono text-sm text-slate-400" data-testid="bench-result-id">
        {run.id}
      </span>
      <span className="text-sm text-slate-400">
        {run.origin} · {fmtWhen(run.startedAtMs)} · took {fmtDuration(seconds)}
      </span>
      <div className="ml-auto flex gap-2">
        {exportButton("md")}
        {exportButton("json")}
      </div>
    </div>
  );
}

export function BenchResult() {
  const selectedId = useBenchStore((s) => s.selectedId);
  const loaded = useBenchStore((s) => (s.selectedId ? s.loaded[s.selectedId] : undefined));
  const listed = useBenchStore((s) => s.history.find((r) => r.id === s.selectedId));
  const historyLoaded = useBenchStore((s) => s.historyLoaded);
  const run = loaded?.run ?? listed;
  if (!selectedId || !run) {
    return (
      <section data-testid="bench-result" className="rounded-lg border border-dashed border-slate-800 px-4 py-6 text-sm text-slate-500">
        {historyLoaded ? "No benchmark yet. Its result shows here when it ends; earlier ones are in the history." : "Loading the history…"}
      </section>
    );
  }
  return (
    <section data-testid="bench-result" data-run={run.id} className="flex flex-col gap-3">
      <ResultHeader run={run} loaded={loaded} />
      {!loaded ? (
        <div className="text-sm text-slate-500">Loading the report…</div>
      ) : loaded.report ? (
        <ReportView key={run.id} report={loaded.report} />
      ) : (
        <div data-testid="bench-no-report" className="rounded-lg border border-slate-700 bg-slate-900/40 px-4 py-3 text-sm text-slate-300">
          No report: {loaded.reportError || `the run is ${run.status}`}.
        </div>
      )}
    </section>
  );
}
