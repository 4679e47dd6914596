// The Load panel: pick a service, pick a preset (or a rate), start; watch requests/s and the
// latency percentiles live — corrected (from the scheduled send time) next to uncorrected — and
// the list of tests with a stop button each. A saturated generator gets a warning.

import { useMemo, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { timelineMarkers, type TimelineMarker } from "../chaosRun";
import { useChaosStore } from "../chaosStore";
import { useLoadStore, type LoadPoint, type LoadTestView } from "../loadStore";
import { useProcessStore } from "../processStore";
import { streamStatusColor } from "../theme";
import { useLoadActions } from "../useLoadActions";
import { useLoadTests } from "../useLoadTests";
import { useTopologyStore } from "../topologyStore";
import { markerLines } from "./ChartMarkers";

export const LOAD_PRESETS = [
  { label: "100/s · 30 s", rate: 100, durationSeconds: 30 },
  { label: "1,000/s · 30 s", rate: 1000, durationSeconds: 30 },
  { label: "5,000/s · 30 s", rate: 5000, durationSeconds: 30 },
] as const;

/** Chart colours (corrected solid, uncorrected dashed in the same hue). */
const SERIES = { rps: "#34d399", p50: "#60a5fa", p95: "#fbbf24", p99: "#f87171" } as const;
const AXIS = { stroke: "#64748b", fontSize: 11 } as const;
const EMPTY: LoadPoint[] = [];

function useTargets(): string[] {
  const nodes = useTopologyStore((s) => s.nodes);
  return useMemo(
    () =>
      [...new Set(Object.values(nodes).filter((n) => n.address !== "" && n.state !== "DEAD" && n.name !== "load-generator").map((n) => n.name))].sort(),
    [nodes],
  );
}

function StartForm() {
  const targets = useTargets();
  const [target, setTarget] = useState("");
  const [preset, setPreset] = useState(0);
  const [busy, setBusy] = useState(false);
  const { start } = useLoadActions();
  const chosen = target || (targets.find((t) => t.startsWith("calculator")) ?? targets[0] ?? "");
  const p = LOAD_PRESETS[preset];
  return (
    <div className="flex flex-wrap items-center gap-2 text-xs">
      <select
        data-testid="load-target"
        value={chosen}
        onChange={(e) => setTarget(e.target.value)}
        className="rounded border border-slate-700 bg-slate-900 px-2 py-1 text-slate-200"
      >
        {targets.length === 0 && <option value="">no services</option>}
        {targets.map((t) => (
          <option key={t} value={t}>
            {t}
          </option>
        ))}
      </select>
      {LOAD_PRESETS.map((x, i) => (
        <button
          key={x.label}
          data-testid={`load-preset-${x.rate}`}
          onClick={() => setPreset(i)}
          className={`rounded border px-2 py-1 ${i === preset ? "border-emerald-400 text-emerald-300" : "border-slate-700 text-slate-300 hover:border-slate-400"}`}
        >
          {x.label}
        </button>
      ))}
      <button
        data-testid="load-start"
        disabled={!chosen || busy}
        onClick={async () => {
          setBusy(true);
          await start({ target: chosen, rate: p.rate, durationSeconds: p.durationSeconds, concurrency: 1000, label: `${p.rate}/s` });
          setBusy(false);
        }}
        className="rounded border border-emerald-500 bg-emerald-500/10 px-3 py-1 font-medium text-emerald-300 hover:bg-emerald-500/20 disabled:cursor-not-allowed disabled:opacity-40"
      >
        {busy ? "…" : "Start"}
      </button>
    </div>
  );
}

const NO_MARKERS: TimelineMarker[] = [];

/** Faults and restarts during the shown test, at seconds since its start (the charts' axis). */
function useTestMarkers(test: LoadTestView | undefined): TimelineMarker[] {
  const faultEvents = useChaosStore((s) => s.events);
  const processEvents = useProcessStore((s) => s.events);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  return useMemo(() => {
    if (!test || test.startedAtMs <= 0) return NO_MARKERS;
    // The test's start is the server's clock; timelineMarkers wants this browser's.
    const start = test.startedAtMs - offset;
    return timelineMarkers(faultEvents, processEvents, start, start + test.elapsedSeconds * 1000 + 1000, offset);
  }, [test, faultEvents, processEvents, offset]);
}

function Charts({ points, markers }: { points: LoadPoint[]; markers: TimelineMarker[] }) {
  const span = Math.max(1, points.at(-1)?.t ?? 1, ...markers.map((m) => m.t));
  const xAxis = <XAxis dataKey="t" type="number" domain={[0, "dataMax"]} allowDecimals={false} {...AXIS} unit="s" />;
  return (
    <div className="grid min-h-0 flex-1 grid-cols-2 gap-2" data-testid="load-charts" data-points={points.length} data-markers={markers.length}>
      <div className="min-h-0" data-testid="load-rps-chart">
        <div className="flex gap-2 overflow-hidden whitespace-nowrap text-[11px] text-slate-400">
          requests/s sent
          {/* The charts are too small for labels on the lines: the markers are named here. */}
          {markers.map((m) => (
            <span key={m.key} data-testid="load-marker" style={{ color: m.color }}>
              {m.t.toFixed(0)} s {m.label}
            </span>
          ))}
        </div>
        <ResponsiveContainer width="100%" height="90%">
          <LineChart data={points} margin={{ top: 4, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#1e293b" />
            {xAxis}
            <YAxis {...AXIS} width={44} />
            <Tooltip contentStyle={{ background: "#0f172a", border: "1px solid #334155", fontSize: 11 }} />
            <Line type="monotone" dataKey="rps" name="req/s" stroke={SERIES.rps} dot={false} isAnimationActive={false} />
            {markerLines(markers, { span, labels: false })}
          </LineChart>
        </ResponsiveContainer>
      </div>
      <div className="min-h-0" data-testid="load-latency-chart">
        <div className="text-[11px] text-slate-400">latency ms — corrected (solid) vs uncorrected (dashed)</div>
        <ResponsiveContainer width="100%" height="90%">
          <LineChart data={points} margin={{ top: 4, right: 8, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#1e293b" />
            {xAxis}
            <YAxis {...AXIS} width={44} />
            <Tooltip contentStyle={{ background: "#0f172a", border: "1px solid #334155", fontSize: 11 }} />
            <Legend wrapperStyle={{ fontSize: 10 }} />
            {markerLines(markers, { span, labels: false })}
            {(["p50", "p95", "p99"] as const).map((k) => (
              <Line key={k} type="monotone" dataKey={k} name={k} stroke={SERIES[k]} dot={false} isAnimationActive={false} />
            ))}
            {(["p50", "p95", "p99"] as const).map((k) => (
              <Line
                key={`u${k}`}
                type="monotone"
                dataKey={`u${k.slice(1)}`}
                name={`${k} uncorr.`}
                stroke={SERIES[k]}
                strokeDasharray="4 3"
                strokeOpacity={0.6}
                dot={false}
                isAnimationActive={false}
              />
            ))}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}

function TestRow({ t, selected }: { t: LoadTestView; selected: boolean }) {
  const { stop } = useLoadActions();
  const select = useLoadStore((s) => s.select);
  const errors = Object.entries(t.errors)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  return (
    <tr
      data-testid={`load-test-${t.id}`}
      data-state={t.state}
      onClick={() => select(t.id)}
      className={`cursor-pointer border-b border-slate-800/70 ${selected ? "bg-slate-800/60" : ""}`}
    >
      <td className="py-1 pr-2 text-slate-100">{t.target}</td>
      <td className="pr-2 text-slate-300">{t.label}</td>
      <td className="pr-2" data-testid="load-test-state">
        {t.state}
      </td>
      <td className="pr-2 text-right tabular-nums" data-testid="load-test-rps">
        {Math.round(t.currentRps)}/{t.rate}
      </td>
      <td className="pr-2 text-right tabular-nums" data-testid="load-test-sent">
        {t.sent}
      </td>
      <td className="pr-2 text-right tabular-nums">{t.failed}</td>
      <td className="pr-2 text-right tabular-nums">{t.late}</td>
      <td className="pr-2 text-right tabular-nums">
        {t.p99.toFixed(1)} / {t.uncorrectedP99.toFixed(1)}
      </td>
      <td className="pr-2 text-slate-400">{errors}</td>
      <td>
        {t.active && (
          <button
            data-testid={`load-stop-${t.id}`}
            onClick={(e) => {
              e.stopPropagation();
              void stop(t.id);
            }}
            className="rounded border border-slate-700 px-2 py-0.5 text-xs text-slate-200 hover:border-red-400 hover:text-red-300"
          >
            Stop
          </button>
        )}
      </td>
    </tr>
  );
}

export function LoadPanel() {
  useLoadTests();
  const tests = useLoadStore((s) => s.tests);
  const selectedId = useLoadStore((s) => s.selectedId);
  const points = useLoadStore((s) => (s.selectedId ? (s.series[s.selectedId] ?? EMPTY) : EMPTY));
  const status = useLoadStore((s) => s.status);
  const message = useLoadStore((s) => s.actionMessage);
  const selected = tests.find((t) => t.id === selectedId);
  const markers = useTestMarkers(selected);
  const saturated = tests.filter((t) => t.active && t.saturated);
  return (
    <section data-testid="load-panel" className="flex h-full min-h-0 flex-col gap-2 p-3 text-sm text-slate-300">
      <div className="flex items-center gap-3">
        <h2 className="font-semibold text-slate-100">Load</h2>
        <span data-testid="load-stream-status" className="text-xs" style={{ color: streamStatusColor[status] }}>
          {status}
        </span>
        <div className="ml-auto">
          <StartForm />
        </div>
      </div>
      {saturated.map((t) => (
        <div key={t.id} data-testid="load-saturation-warning" className="rounded border border-amber-500/60 bg-amber-500/10 px-2 py-1 text-xs text-amber-300">
          Generator saturated ({t.target}, {t.rate}/s): {t.saturationReason}
        </div>
      ))}
      {message && (
        <div data-testid="load-action-message" className={`text-xs ${message.error ? "text-red-400" : "text-slate-400"}`}>
          {message.text}
        </div>
      )}
      {selected && (
        <div className="text-xs text-slate-400" data-testid="load-selected">
          {selected.target} · {selected.method} · {selected.state} · {selected.elapsedSeconds.toFixed(0)} s of {selected.durationSeconds} s · in-flight limit{" "}
          {selected.concurrency}
          {selected.unsent > 0 && ` · ${selected.unsent} unsent`}
          {selected.everSaturated && " · was saturated"}
        </div>
      )}
      <Charts points={points} markers={markers} />
      <div className="max-h-32 overflow-auto">
        <table className="w-full text-xs" data-testid="load-tests">
          <thead className="text-left text-slate-500">
            <tr>
              <th className="pr-2 font-normal">target</th>
              <th className="pr-2 font-normal">label</th>
              <th className="pr-2 font-normal">state</th>
              <th className="pr-2 text-right font-normal">req/s</th>
              <th className="pr-2 text-right font-normal">sent</th>
              <th className="pr-2 text-right font-normal">failed</th>
              <th className="pr-2 text-right font-normal">late</th>
              <th className="pr-2 text-right font-normal">p99 ms corr./uncorr.</th>
              <th className="pr-2 font-normal">errors</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {tests.length === 0 && (
              <tr>
                <td colSpan={10} className="py-2 text-slate-500">
                  No load tests. Pick a service and a preset, then Start.
                </td>
              </tr>
            )}
            {[...tests].reverse().map((t) => (
              <TestRow key={t.id} t={t} selected={t.id === selectedId} />
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}
