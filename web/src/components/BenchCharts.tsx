// The result's charts, each fed rows from benchReport (never numbers of its own): throughput
// with min–max, batch-latency percentiles, CPU and memory per process, the split's IPC share per
// stage, and the scaling sweep. Large labels, values written on the bars, for a projector.

import type { ReactNode } from "react";
import { useState } from "react";
import {
  Bar,
  BarChart,
  CartesianGrid,
  Cell,
  ErrorBar,
  LabelList,
  Legend,
  Line,
  LineChart,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from "recharts";
import { fmtNum, fmtPct, fmtRate, fmtRatio, fmtShort } from "../benchAdapters";
import { type LatencyRow, type ProcessRow, type ScalingRow, type StageRow, type ThroughputRow } from "../benchReport";
import { benchModeColor, benchModeFallback, languageBadge, percentileColor } from "../theme";

export const AXIS = { stroke: "#64748b", fontSize: 12, tick: { fill: "#94a3b8" } } as const;
export const TOOLTIP = { background: "#0f172a", border: "1px solid #334155", fontSize: 12, color: "#e2e8f0" } as const;
const GRID = "#1e293b";
const modeColor = (m: string) => benchModeColor[m] ?? benchModeFallback;

export function Card({ testId, title, subtitle, children, className = "" }: { testId?: string; title: string; subtitle?: ReactNode; children: ReactNode; className?: string }) {
  return (
    <div data-testid={testId} className={`flex min-w-0 flex-col rounded-lg border border-slate-800 bg-slate-900/40 p-3 ${className}`}>
      <h3 className="text-sm font-semibold text-slate-200">{title}</h3>
      {subtitle && <div className="text-xs text-slate-500">{subtitle}</div>}
      <div className="mt-2 min-h-0 flex-1">{children}</div>
    </div>
  );
}

/** Props Recharts hands a custom label (it passes more; these are the ones used). */
interface LabelArgs {
  x?: number | string;
  y?: number | string;
  width?: number | string;
  height?: number | string;
  index?: number;
}
const num = (v: number | string | undefined) => Number(v ?? 0);

export function ThroughputChart({ rows }: { rows: ThroughputRow[] }) {
  const top = Math.max(1, ...rows.map((r) => r.max));
  // The value goes past the range's end, so it never sits on the error bar.
  const label = ({ x, y, width, height, index }: LabelArgs) => {
    const r = rows[index ?? 0];
    if (!r) return null;
    const end = num(x) + (r.median > 0 ? (num(width) * r.max) / r.median : num(width));
    return (
      <text x={end + 8} y={num(y) + num(height) / 2} dominantBaseline="central" fill="#f1f5f9" fontSize={15} fontWeight={600}>
        {fmtRate(r.median)}
      </text>
    );
  };
  return (
    <div style={{ height: rows.length * 44 + 36 }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={rows} layout="vertical" margin={{ top: 4, right: 16, bottom: 0, left: 0 }} barCategoryGap="22%">
          <CartesianGrid stroke={GRID} horizontal={false} />
          <XAxis type="number" domain={[0, top * 1.32]} tickFormatter={fmtShort} {...AXIS} />
          <YAxis type="category" dataKey="name" width={128} {...AXIS} fontSize={13} />
          <Tooltip
            cursor={{ fill: "#1e293b80" }}
            contentStyle={TOOLTIP}
            formatter={(_v, _n, item) => {
              const r = item.payload as ThroughputRow;
              return [`${fmtRate(r.median)} (min ${fmtRate(r.min)}, max ${fmtRate(r.max)}, ${r.runs} runs)`, "events/s median"];
            }}
          />
          <Bar dataKey="median" isAnimationActive={false}>
            {rows.map((r) => (
              <Cell key={r.mode} fill={modeColor(r.mode)} />
            ))}
            <ErrorBar dataKey="range" width={6} strokeWidth={2} stroke="#e2e8f0" direction="x" />
            <LabelList dataKey="median" content={label} />
          </Bar>
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

export function LatencyChart({ rows }: { rows: LatencyRow[] }) {
  if (rows.length === 0) return <div className="py-6 text-sm text-slate-500">No mode reported batch latency.</div>;
  const top = Math.max(0.001, ...rows.flatMap((r) => [r.p50 ?? 0, r.p95 ?? 0, r.p99 ?? 0]));
  const label = (v: unknown) => (v === null || v === undefined ? "–" : fmtNum(Number(v), Number(v) < 10 ? 2 : 1));
  // Horizontal, so each value has the room to its right and three bars never share a label's place.
  return (
    <div style={{ height: rows.length * 66 + 56 }}>
      <ResponsiveContainer width="100%" height="100%">
        <BarChart data={rows} layout="vertical" margin={{ top: 0, right: 16, bottom: 0, left: 0 }} barCategoryGap="16%" barGap={1}>
          <CartesianGrid stroke={GRID} horizontal={false} />
          <XAxis type="number" domain={[0, top * 1.18]} tickFormatter={fmtShort} {...AXIS} />
          <YAxis type="category" dataKey="name" width={128} {...AXIS} fontSize={13} />
          <Tooltip cursor={{ fill: "#1e293b80" }} contentStyle={TOOLTIP} formatter={(v, n) => [v === null ? "–" : `${fmtNum(Number(v), 2)} ms`, n]} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {(["p50", "p95", "p99"] as const).map((k) => (
            <Bar key={k} dataKey={k} name={k} fill={percentileColor[k]} isAnimationActive={false}>
              <LabelList dataKey={k} position="right" formatter={label} fill="#e2e8f0" fontSize={12} />
            </Bar>
          ))}
        </BarChart>
      </ResponsiveContainer>
    </div>
  );
}

function HorizontalBars({
  rows,
  dataKey,
  format,
  showNames,
  title,
}: {
  rows: ProcessRow[];
  dataKey: "cpuSeconds" | "peakRssMB";
  format: (v: number) => string;
  showNames: boolean;
  title: string;
}) {
  const top = Math.max(0.001, ...rows.map((r) => r[dataKey] ?? 0));
  return (
    <div className="min-w-0">
      <div className={`text-xs text-slate-400 ${showNames ? "pl-[160px]" : ""}`}>{title}</div>
      <div style={{ height: rows.length * 26 + 30 }}>
        <ResponsiveContainer width="100%" height="100%">
          <BarChart data={rows} layout="vertical" margin={{ top: 2, right: 8, bottom: 0, left: 0 }} barCategoryGap="20%">
            <CartesianGrid stroke={GRID} horizontal={false} />
            <XAxis type="number" domain={[0, top * 1.3]} tickFormatter={fmtShort} {...AXIS} />
            <YAxis type="category" dataKey="key" width={showNames ? 160 : 0} hide={!showNames} {...AXIS} fontSize={12} interval={0} />
            <Tooltip
              cursor={{ fill: "#1e293b80" }}
              contentStyle={TOOLTIP}
              formatter={(v, _n, item) => [v === null ? "–" : format(Number(v)), `${(item.payload as ProcessRow).language} · ${title}`]}
            />
            <Bar dataKey={dataKey} isAnimationActive={false}>
              {rows.map((r) => (
                <Cell key={r.key} fill={modeColor(r.mode)} />
              ))}
              <LabelList dataKey={dataKey} position="right" formatter={(v: unknown) => (v === null || v === undefined ? "–" : format(Number(v)))} fill="#e2e8f0" fontSize={12} />
            </Bar>
          </BarChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}

export function ProcessesChart({ rows }: { rows: ProcessRow[] }) {
  const hasPassthrough = rows.some((r) => r.mode === "split-passthrough");
  const [withPassthrough, setWithPassthrough] = useState(false);
  const shown = withPassthrough ? rows : rows.filter((r) => r.mode !== "split-passthrough");
  if (shown.length === 0) return <div className="py-6 text-sm text-slate-500">No process figures in this report.</div>;
  return (
    <div>
      <div className="grid grid-cols-[minmax(0,3fr)_minmax(0,2fr)] gap-3">
        <HorizontalBars rows={shown} dataKey="cpuSeconds" format={(v) => `${fmtNum(v, 2)} s`} showNames title="CPU seconds" />
        <HorizontalBars rows={shown} dataKey="peakRssMB" format={(v) => `${fmtNum(v)} MB`} showNames={false} title="peak RSS MB" />
      </div>
      {hasPassthrough && (
        <label className="mt-1 flex items-center gap-1.5 text-xs text-slate-400">
          <input type="checkbox" checked={withPassthrough} onChange={(e) => setWithPassthrough(e.target.checked)} />
          include the pass-through chain (the IPC yardstick)
        </label>
      )}
    </div>
  );
}

const languageColor = (language: string): string => {
  const key = language.toUpperCase().replace("C++", "CPP");
  return (languageBadge[key] ?? languageBadge.UNSPECIFIED).color;
};

export function IpcChart({ rows, overall, passthroughRatio }: { rows: StageRow[]; overall: number | null; passthroughRatio: number | null }) {
  // Room above the tallest bar for its label, in steps of 10 %, never past 100 %.
  const top = Math.min(100, Math.max(40, Math.ceil(Math.max(...rows.map((r) => r.ipcPercent ?? 0)) / 10) * 10 + 10));
  const pct = (v: unknown) => (v === null || v === undefined ? "–" : `${fmtNum(Number(v), 1)}%`);
  return (
    <div className="flex flex-col gap-2">
      <div className="flex items-end gap-8">
        <div>
          <div data-testid="bench-ipc-overall" className="text-3xl font-semibold tabular-nums text-slate-100">
            {fmtPct(overall)}
          </div>
          <div className="text-xs text-slate-400">of the whole split's CPU</div>
        </div>
        <div>
          <div className="text-xl font-semibold tabular-nums text-slate-200">{fmtRatio(passthroughRatio)}</div>
          <div className="text-xs text-slate-400">pass-through chain CPU ÷ split CPU</div>
        </div>
      </div>
      <div className="h-[210px] min-w-0">
        {rows.length === 0 ? (
          <div className="py-6 text-sm text-slate-500">No split stage figures in this report.</div>
        ) : (
          <ResponsiveContainer width="100%" height="100%">
            <BarChart data={rows} margin={{ top: 22, right: 64, bottom: 0, left: 0 }} barCategoryGap="24%">
              <CartesianGrid stroke={GRID} vertical={false} />
              <XAxis dataKey="stage" {...AXIS} fontSize={13} interval={0} />
              <YAxis domain={[0, top]} tickFormatter={(v: number) => `${Math.round(v)}%`} width={48} {...AXIS} />
              <Tooltip
                cursor={{ fill: "#1e293b80" }}
                contentStyle={TOOLTIP}
                formatter={(_v, _n, item) => {
                  const r = item.payload as StageRow;
                  return [
                    `${pct(r.ipcPercent)} (CPU ${fmtNum(r.cpuSeconds, 2)} s, busy ${fmtNum(r.busySeconds, 2)} s, waiting ${fmtNum(r.waitSeconds, 2)} s)`,
                    `${r.stage} (${r.language})`,
                  ];
                }}
              />
              <ReferenceLine y={30} stroke="#fbbf24" strokeDasharray="5 4" label={{ value: "floor 30%", position: "right", fill: "#fbbf24", fontSize: 11 }} />
              <ReferenceLine y={15} stroke="#34d399" strokeDasharray="5 4" label={{ value: "goal 15%", position: "right", fill: "#34d399", fontSize: 11 }} />
              <Bar dataKey="ipcPercent" isAnimationActive={false} minPointSize={2}>
                {rows.map((r) => (
                  <Cell key={r.stage} fill={languageColor(r.language)} />
                ))}
                <LabelList dataKey="ipcPercent" position="top" formatter={pct} fill="#e2e8f0" fontSize={13} />
              </Bar>
            </BarChart>
          </ResponsiveContainer>
        )}
      </div>
      <div className="flex flex-wrap gap-3 text-xs text-slate-400">
        {rows.map((r) => (
          <span key={r.stage}>
            <span className="mr-1 inline-block h-2 w-2 rounded-sm" style={{ background: languageColor(r.language) }} />
            {r.stage} <span className="text-slate-500">{r.language}</span>
          </span>
        ))}
      </div>
    </div>
  );
}

export function ScalingChart({ rows, cores }: { rows: ScalingRow[]; cores: number }) {
  const hasAggregate = rows.some((r) => r.splitAggregate !== null);
  const speedup = (x: number | null) => (x === null ? null : <span className="ml-1 text-xs text-slate-500">{fmtRatio(x)}</span>);
  return (
    <div className="flex flex-col gap-2">
      <div className="h-[220px]">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={rows} margin={{ top: 10, right: 20, bottom: 0, left: 0 }}>
            <CartesianGrid stroke={GRID} />
            <XAxis dataKey="partitions" type="category" {...AXIS} fontSize={13} />
            {/* Log scale: the aggregate stage alone runs far faster than either whole pipeline. */}
            <YAxis scale="log" domain={["auto", "auto"]} tickFormatter={fmtShort} width={48} {...AXIS} />
            <Tooltip
              contentStyle={TOOLTIP}
              labelFormatter={(p) => `${p} partitions${Number(p) > cores ? ` (more than the ${cores} cores)` : ""}`}
              formatter={(v, n) => [fmtRate(Number(v)), n]}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} />
            <Line dataKey="monolith" name="monolith" stroke={modeColor("monolith")} strokeWidth={2.5} dot={{ r: 4 }} isAnimationActive={false} connectNulls />
            <Line dataKey="split" name="split" stroke={modeColor("split")} strokeWidth={2.5} dot={{ r: 4 }} isAnimationActive={false} connectNulls />
            {hasAggregate && (
              <Line
                dataKey="splitAggregate"
                name="split: aggregate stage alone"
                stroke={modeColor("split")}
                strokeDasharray="6 4"
                strokeWidth={2}
                dot={{ r: 3 }}
                isAnimationActive={false}
                connectNulls
              />
            )}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <table data-testid="bench-scaling-table" className="w-full text-sm">
        <thead className="text-right text-xs text-slate-500">
          <tr className="whitespace-nowrap">
            <th className="pr-3 text-left font-normal">partitions</th>
            <th className="pr-3 font-normal">monolith</th>
            <th className="pr-3 font-normal">split</th>
            {hasAggregate && <th className="font-normal">aggregate alone</th>}
          </tr>
        </thead>
        <tbody className="tabular-nums">
          {rows.map((r) => (
            <tr key={r.partitions} className="whitespace-nowrap border-t border-slate-800/60 text-right">
              <td className="py-0.5 pr-3 text-left text-slate-300">
                {r.partitions}
                {r.partitions > cores && <span className="ml-1 text-xs text-slate-500">&gt; cores</span>}
              </td>
              <td className="pr-3 text-slate-100">
                {fmtRate(r.monolith)}
                {speedup(r.monolithSpeedup)}
              </td>
              <td className="pr-3 text-slate-100">
                {fmtRate(r.split)}
                {speedup(r.splitSpeedup)}
              </td>
              {hasAggregate && <td className="text-slate-300">{fmtRate(r.splitAggregate)}</td>}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
