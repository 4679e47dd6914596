// The running benchmark as the audience watches it: phase, mode and run, the overall steps bar,
// the current run's events, a throughput line per mode growing as progress arrives, and every
// finished process run. After the end it folds into one line (the result takes the stage).

import { useMemo, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { PHASE_LABEL, checksumPrefix, fmtDuration, fmtEvents, fmtNum, fmtRate, fmtShort } from "../benchAdapters";
import { isEnded, liveChartRows, type LiveState } from "../benchLive";
import { MODE_SHORT } from "../benchReport";
import { useBenchStore } from "../benchStore";
import { timelineMarkers } from "../chaosRun";
import { useChaosStore } from "../chaosStore";
import { useProcessStore } from "../processStore";
import { useTopologyStore } from "../topologyStore";
import { benchModeColor, benchModeFallback, benchPhaseColor } from "../theme";
import { AXIS, TOOLTIP } from "./BenchCharts";
import { markerLines } from "./ChartMarkers";

const modeColor = (m: string) => benchModeColor[m] ?? benchModeFallback;

function Bar({ value, total, color, testId }: { value: number; total: number; color: string; testId: string }) {
  const pct = total > 0 ? Math.min(100, (value / total) * 100) : 0;
  return (
    <div data-testid={testId} data-value={value} data-total={total} className="h-2.5 w-full overflow-hidden rounded-full bg-slate-800">
      <div className="h-full rounded-full transition-[width] duration-200" style={{ width: `${pct}%`, background: color }} />
    </div>
  );
}

function runLabel(l: LiveState): string {
  if (l.phase === "warmup") return l.runCount > 0 ? `warm-up (${l.runCount} per mode, not counted)` : "warm-up";
  if (l.runIndex > 0 && l.runCount > 0) return `${l.phase === "scaling" ? "sweep run" : "run"} ${l.runIndex} of ${l.runCount}`;
  return "";
}

function LiveChart({ live }: { live: LiveState }) {
  const { rows, modes } = useMemo(() => liveChartRows(live.points), [live.points]);
  // Faults and restarts during the benchmark (a kill from the Chaos panel, say), on the same axis.
  const startedAtMs = useBenchStore((s) => s.liveStartedAtMs);
  const faultEvents = useChaosStore((s) => s.events);
  const processEvents = useProcessStore((s) => s.events);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  const markers = useMemo(
    () => timelineMarkers(faultEvents, processEvents, startedAtMs, startedAtMs + live.elapsed * 1000 + 500, offset),
    [faultEvents, processEvents, startedAtMs, live.elapsed, offset],
  );
  const span = Math.max(1, live.points.at(-1)?.t ?? 1, ...markers.map((m) => m.t));
  return (
    <div data-testid="bench-chart-live" data-points={live.points.length} data-markers={markers.length} className="flex min-h-0 flex-col">
      <div className="text-xs text-slate-400">events/s of the running process, as it reads its input</div>
      <div className="h-[210px]">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={rows} margin={{ top: 8, right: 12, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#1e293b" />
            <XAxis dataKey="t" type="number" domain={[0, "dataMax"]} allowDecimals={false} tickFormatter={(t: number) => `${t}s`} {...AXIS} />
            <YAxis tickFormatter={fmtShort} width={48} {...AXIS} />
            <Tooltip
              contentStyle={TOOLTIP}
              labelFormatter={(t) => `${Number(t).toFixed(1)} s`}
              formatter={(v, name) => [fmtRate(Number(v)), MODE_SHORT[String(name)] ?? String(name)]}
            />
            <Legend wrapperStyle={{ fontSize: 12 }} formatter={(m: string) => MODE_SHORT[m] ?? m} />
            {modes.map((m) => (
              <Line
                key={m}
                type="linear"
                dataKey={m}
                name={m}
                stroke={modeColor(m)}
                strokeWidth={2}
                dot={{ r: 2.5, fill: modeColor(m), strokeWidth: 0 }}
                connectNulls={false}
                isAnimationActive={false}
              />
            ))}
            {markerLines(markers, { span })}
          </LineChart>
        </ResponsiveContainer>
      </div>
    </div>
  );
}

function CompletedList({ live }: { live: LiveState }) {
  return (
    <div className="flex min-h-0 flex-col">
      <div className="text-xs text-slate-400">finished process runs ({live.completed.length})</div>
      <div className="mt-1 max-h-[210px] overflow-auto">
        <table data-testid="bench-completed" className="w-full text-xs">
          <thead className="sticky top-0 bg-slate-900 text-left text-slate-500">
            <tr>
              <th className="py-0.5 pr-2 font-normal">mode</th>
              <th className="pr-2 font-normal">run</th>
              <th className="pr-2 text-right font-normal">wall s</th>
              <th className="pr-2 text-right font-normal">events/s</th>
              <th className="font-normal">checksum</th>
            </tr>
          </thead>
          <tbody>
            {[...live.completed].reverse().map((c, i) => (
              <tr key={live.completed.length - i} data-testid="bench-completed-row" className="border-b border-slate-800/60">
                <td className="py-0.5 pr-2 whitespace-nowrap">
                  <span className="mr-1.5 inline-block h-2 w-2 rounded-full" style={{ background: modeColor(c.mode) }} />
                  <span className="text-slate-200">{MODE_SHORT[c.mode] ?? c.mode}</span>
                </td>
                <td className="pr-2 whitespace-nowrap text-slate-400">
                  {c.warmup ? "warm-up" : c.partitions > 0 ? `p=${c.partitions} #${c.runIndex}` : `#${c.runIndex}`}
                  {c.exitCode !== 0 && <span className="ml-1 text-red-400">exit {c.exitCode}</span>}
                </td>
                <td className="pr-2 text-right tabular-nums">{fmtNum(c.wallSeconds, 2)}</td>
                <td className="pr-2 text-right tabular-nums text-slate-100">{fmtRate(c.eventsPerSecond)}</td>
                <td className="font-mono text-slate-400">{checksumPrefix(c.checksum)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

export function BenchProgress() {
  const live = useBenchStore((s) => s.live);
  const [showEnded, setShowEnded] = useState(false);
  if (!live) {
    return (
      <section data-testid="bench-progress" data-phase="idle" className="rounded-lg border border-dashed border-slate-800 px-4 py-3 text-sm text-slate-500">
        No benchmark running from this browser. Choose modes and a size on the left, then Start: progress shows here live.
      </section>
    );
  }
  const ended = isEnded(live);
  const color = benchPhaseColor[live.phase] ?? benchPhaseColor.idle;
  const full = !ended || showEnded;
  return (
    <section data-testid="bench-progress" data-phase={live.phase} className={`rounded-lg border border-slate-800 bg-slate-900/40 ${full ? "p-4" : "px-4 py-2"}`}>
      <div className="flex flex-wrap items-baseline gap-x-4 gap-y-1">
        <span data-testid="bench-phase" className={`${full ? "text-2xl" : "text-lg"} font-semibold`} style={{ color }}>
          {PHASE_LABEL[live.phase]}
        </span>
        {live.mode && !ended && (
          <span className="text-xl font-medium" style={{ color: modeColor(live.mode) }} data-testid="bench-current-mode">
            {MODE_SHORT[live.mode] ?? live.mode}
          </span>
        )}
        {!ended && <span className="text-lg text-slate-300">{runLabel(live)}</span>}
        {live.events > 0 && <span className={`${full ? "text-lg" : "text-sm"} text-slate-400`}>{fmtEvents(live.events)} events</span>}
        {live.message && (
          <span data-testid="bench-progress-message" className={`text-sm ${live.phase === "failed" ? "text-red-300" : "text-slate-400"}`}>
            {live.message}
          </span>
        )}
        <span className="ml-auto text-sm text-slate-500">
          {live.runId && <span className="font-mono">{live.runId}</span>} · {fmtDuration(live.elapsed)}
        </span>
        {ended && (
          <button onClick={() => setShowEnded(!showEnded)} className="text-xs text-sky-400 hover:text-sky-300">
            {showEnded ? "hide live chart" : "show live chart"}
          </button>
        )}
      </div>
      {full && (
        <>
          <div className="mt-3 grid grid-cols-2 gap-6">
            <div>
              <div className="mb-1 flex justify-between text-sm text-slate-400">
                <span>process runs</span>
                <span className="tabular-nums text-slate-200" data-testid="bench-steps">
                  {live.stepsDone} / {live.stepsTotal || "?"}
                </span>
              </div>
              <Bar testId="bench-steps-bar" value={live.stepsDone} total={live.stepsTotal} color={color} />
            </div>
            <div>
              <div className="mb-1 flex justify-between text-sm text-slate-400">
                <span>current run</span>
                <span className="tabular-nums text-slate-200" data-testid="bench-events-done">
                  {live.mode && !ended ? (
                    <>
                      {fmtNum(live.eventsDone)} of {fmtNum(live.events)} events · {fmtNum(live.runSeconds, 1)} s ·{" "}
                      <span className="font-semibold" style={{ color: modeColor(live.mode) }}>
                        {live.eventsPerSecond > 0 ? fmtRate(live.eventsPerSecond) : "–"}
                      </span>
                    </>
                  ) : (
                    "–"
                  )}
                </span>
              </div>
              <Bar testId="bench-run-bar" value={live.mode && !ended ? live.eventsDone : 0} total={live.events} color={modeColor(live.mode)} />
            </div>
          </div>
          <div className="mt-3 grid grid-cols-[minmax(0,3fr)_minmax(0,2fr)] gap-4">
            <LiveChart live={live} />
            <CompletedList live={live} />
          </div>
        </>
      )}
    </section>
  );
}
