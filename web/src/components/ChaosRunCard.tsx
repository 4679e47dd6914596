// The pipeline run watched through chaos: a benchmark of the monolith (the reference checksum)
// and the split, started here and followed through the shared benchmark store; the current run's
// progress and events/s, a timeline of events/s with a marker for every fault and restart, and a
// verdict nobody in the room can misread: the split's checksum against the monolith's.

import { useEffect, useMemo, useState } from "react";
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { PHASE_LABEL, fmtEvents, fmtNum, fmtRate, fmtShort } from "../benchAdapters";
import { isEnded, liveChartRows, type LiveState } from "../benchLive";
import { MODE_SHORT } from "../benchReport";
import { useBenchStore } from "../benchStore";
import { useChaosStore } from "../chaosStore";
import {
  RUN_SIZES,
  SPLIT_INPUT_EDGE,
  chaosRunRequest,
  estimateDone,
  niceCeil,
  smoothTicks,
  timelineMarkers,
  timelineTicks,
  verdictFromCompleted,
  verdictFromReport,
  type ChaosVerdict,
  type RateSample,
} from "../chaosRun";
import { useProcessStore } from "../processStore";
import { benchModeColor, benchModeFallback, benchPhaseColor, chaosVerdictColor } from "../theme";
import { useBenchActions } from "../useBenchActions";
import { useNow } from "../useNow";
import { useTopologyStore } from "../topologyStore";
import { AXIS, TOOLTIP } from "./BenchCharts";
import { markerLines } from "./ChartMarkers";

const modeColor = (m: string) => benchModeColor[m] ?? benchModeFallback;
const MODE_ROLE: Record<string, string> = { monolith: "monolith · reference", split: "split pipeline", "split-passthrough": "split pass-through (IPC only)" };
const SPLIT_MODES = ["split", "split-passthrough"];
const SAMPLE_MS = 250;

/** While a split process run goes, samples the graph's ingest → parse rate into the chaos store,
 *  the stand-in for a benchmark whose progress has no figure for the split (it reads the reader's
 *  file position, which positional reads do not move). */
function useSplitRateSampler(live: LiveState | null, startedAtMs: number): void {
  const active = !!live && !isEnded(live) && SPLIT_MODES.includes(live.mode);
  useEffect(() => {
    if (!active) return;
    const t = setInterval(() => {
      const l = useBenchStore.getState().live;
      if (!l || isEnded(l) || !SPLIT_MODES.includes(l.mode)) return;
      const edge = useTopologyStore.getState().edges[SPLIT_INPUT_EDGE];
      const eventsPerSecond = edge && edge.state === "ACTIVE" ? edge.itemsPerSecond : 0;
      useChaosStore.getState().addRateSample(startedAtMs, { t: (Date.now() - startedAtMs) / 1000, mode: l.mode, step: l.stepsDone, eventsPerSecond });
    }, SAMPLE_MS);
    return () => clearInterval(t);
  }, [active, startedAtMs]);
}

const NO_SAMPLES: RateSample[] = [];

function Timeline({ live, startedAtMs }: { live: LiveState; startedAtMs: number }) {
  const ended = isEnded(live);
  const now = useNow(500);
  const faultEvents = useChaosStore((s) => s.events);
  const processEvents = useProcessStore((s) => s.events);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  const samples = useChaosStore((s) => (s.rateRunStartedAtMs === startedAtMs ? s.rateSamples : NO_SAMPLES));
  // The split's lines only: the monolith's few-second spike (ten times higher) would flatten them.
  const ticks = useMemo(() => timelineTicks(smoothTicks(live.ticks.filter((k) => SPLIT_MODES.includes(k.mode))), samples), [live.ticks, samples]);
  const { rows, modes } = useMemo(() => liveChartRows(ticks), [ticks]);
  const end = ended ? live.elapsed : (now - startedAtMs) / 1000;
  const markers = useMemo(() => timelineMarkers(faultEvents, processEvents, startedAtMs, startedAtMs + end * 1000 + 500, offset), [faultEvents, processEvents, startedAtMs, end, offset]);
  // From just before the split (or the first marker) to now: the part of the run worth watching.
  const first = Math.min(ticks[0]?.t ?? Infinity, markers[0]?.t ?? Infinity);
  const from = Number.isFinite(first) ? Math.max(0, Math.floor(first - 1)) : 0;
  const to = Math.max(from + 5, Math.ceil(end));
  const shownMarkers = markers.map((m) => ({ ...m, t: m.t - from }));
  const shownRows = rows.map((r) => ({ ...r, t: r.t - from }));
  const yMax = niceCeil(Math.max(1, ...ticks.map((k) => k.eventsPerSecond)) * 1.3);
  return (
    <div
      data-testid="chaos-timeline"
      data-markers={markers.length}
      data-marker-kinds={markers.map((m) => m.kind).join(",")}
      className="relative flex min-h-0 flex-1 flex-col"
    >
      <div className="text-xs text-slate-400">split events/s · seconds since the run started · faults and restarts marked</div>
      <div className="min-h-[120px] flex-1">
        <ResponsiveContainer width="100%" height="100%">
          <LineChart data={shownRows} margin={{ top: 6, right: 12, bottom: 0, left: 0 }}>
            <CartesianGrid stroke="#1e293b" />
            <XAxis dataKey="t" type="number" domain={[0, to - from]} allowDecimals={false} tickFormatter={(t: number) => `${t + from}s`} {...AXIS} />
            {/* Headroom above the line for the markers' labels. */}
            <YAxis tickFormatter={fmtShort} width={44} domain={[0, yMax]} tickCount={5} {...AXIS} />
            <Tooltip contentStyle={TOOLTIP} labelFormatter={(t) => `${(Number(t) + from).toFixed(1)} s`} formatter={(v, name) => [fmtRate(Number(v)), MODE_SHORT[String(name)] ?? String(name)]} />
            <Legend wrapperStyle={{ fontSize: 12 }} formatter={(m: string) => MODE_SHORT[m] ?? m} />
            {modes.map((m) => (
              <Line key={m} type="linear" dataKey={m} name={m} stroke={modeColor(m)} strokeWidth={2.5} dot={false} connectNulls={false} isAnimationActive={false} />
            ))}
            {markerLines(shownMarkers, { span: to - from, fontSize: 13 })}
          </LineChart>
        </ResponsiveContainer>
      </div>
      {rows.length === 0 && (
        <div className="pointer-events-none absolute inset-0 flex items-center justify-center text-sm text-slate-500">
          {ended ? "no split run in this benchmark" : "the split's events/s shows here once it runs"}
        </div>
      )}
    </div>
  );
}

function VerdictBox({ v, source }: { v: ChaosVerdict; source: string }) {
  const color = chaosVerdictColor[v.kind];
  const text = v.kind === "identical" ? "identical ✓" : v.kind === "different" ? "DIFFERENT ✗" : "no verdict";
  return (
    <div data-testid="chaos-verdict" data-verdict={v.kind} className="rounded-lg border-2 px-4 py-2.5" style={{ borderColor: color, background: `${color}14` }}>
      <div className="flex items-baseline justify-between gap-3">
        <span className="text-sm text-slate-300">split checksum vs monolith</span>
        <span className="text-[11px] text-slate-500">{source}</span>
      </div>
      <div data-testid="chaos-verdict-text" className="text-5xl font-bold leading-tight tracking-tight" style={{ color }}>
        {text}
      </div>
      {v.reason && <div className="mt-1 text-sm text-amber-200">{v.reason}</div>}
      <div className="mt-2 grid grid-cols-[auto_minmax(0,1fr)] gap-x-3 font-mono text-[13px]">
        <span className="font-sans text-slate-400">split</span>
        <span data-testid="chaos-checksum-split" className="truncate text-slate-100" title={v.split}>
          {v.split || "–"}
        </span>
        <span className="font-sans text-slate-400">monolith</span>
        <span data-testid="chaos-checksum-monolith" className="truncate text-slate-100" title={v.monolith}>
          {v.monolith || "–"}
        </span>
      </div>
    </div>
  );
}

/** The verdict of the shown run: from its report once written, else from its finished runs. */
function useVerdict(): { verdict: ChaosVerdict | null; source: string } {
  const live = useBenchStore((s) => s.live);
  const loaded = useBenchStore((s) => s.loaded);
  const report = live?.final ? loaded[live.final.id]?.report : null;
  if (report) return { verdict: verdictFromReport(report), source: "from the report" };
  return { verdict: live ? verdictFromCompleted(live.completed) : null, source: "from the finished runs" };
}

export function ChaosVerdictCard() {
  const live = useBenchStore((s) => s.live);
  const { verdict, source } = useVerdict();
  if (verdict) return <VerdictBox v={verdict} source={source} />;
  return (
    <div data-testid="chaos-verdict-pending" className="flex min-h-[112px] flex-col justify-center rounded-lg border-2 border-dashed border-slate-700 px-4 py-2.5 text-slate-500">
      <div className="text-sm">split checksum vs monolith</div>
      <div className="text-2xl font-semibold">{live && !isEnded(live) ? "verdict when the split ends…" : "no run yet"}</div>
    </div>
  );
}

export function ChaosRunCard() {
  const live = useBenchStore((s) => s.live);
  const running = useBenchStore((s) => s.running);
  const startedAtMs = useBenchStore((s) => s.liveStartedAtMs);
  const history = useBenchStore((s) => s.history);
  const error = useBenchStore((s) => s.error);
  const { start, attach, refreshHistory } = useBenchActions();
  const [size, setSize] = useState<number>(RUN_SIZES[0]);
  useSplitRateSampler(live, startedAtMs);
  const samples = useChaosStore((s) => (s.rateRunStartedAtMs === startedAtMs ? s.rateSamples : NO_SAMPLES));

  // A run going on the server (started before a reload, or elsewhere): follow it here.
  useEffect(() => {
    void refreshHistory();
  }, [refreshHistory]);
  const runningId = history.find((r) => r.status === "running")?.id;
  useEffect(() => {
    if (runningId && !useBenchStore.getState().running) void attach(runningId);
  }, [runningId, attach]);

  const ended = live ? isEnded(live) : false;
  const phaseColor = live ? (benchPhaseColor[live.phase] ?? benchPhaseColor.idle) : benchPhaseColor.idle;
  const current = live && !ended && live.mode ? live.mode : "";
  // The benchmark's figures when it has them, else the graph's (marked ≈).
  const estimated = !!live && !!current && live.eventsDone === 0 && live.eventsPerSecond === 0 && SPLIT_MODES.includes(current);
  const done = !live ? 0 : estimated ? estimateDone(samples, current, live.stepsDone, live.events) : live.eventsDone;
  const lastSample = samples.at(-1);
  const lastTick = useMemo(() => (live ? smoothTicks(live.ticks.slice(-12)).at(-1) : undefined), [live]);
  const rate = !live
    ? 0
    : estimated
      ? lastSample && lastSample.mode === current && lastSample.step === live.stepsDone
        ? lastSample.eventsPerSecond
        : 0
      : lastTick && lastTick.mode === current && lastTick.step === live.stepsDone
        ? lastTick.eventsPerSecond
        : live.eventsPerSecond;
  const approx = estimated ? "≈ " : "";
  const pct = live && live.events > 0 ? Math.min(100, (done / live.events) * 100) : 0;

  return (
    <section data-testid="chaos-run" data-phase={live?.phase ?? "idle"} data-mode={current} className="flex h-full min-h-0 flex-col gap-1.5">
      <div className="flex items-center gap-2">
        <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">Pipeline run</h3>
        {live && (
          <span data-testid="chaos-run-phase" className="text-base font-semibold" style={{ color: phaseColor }}>
            {PHASE_LABEL[live.phase]}
          </span>
        )}
        {current && (
          <span data-testid="chaos-run-mode" className="truncate text-base font-medium" style={{ color: modeColor(current) }}>
            {MODE_ROLE[current] ?? current}
          </span>
        )}
        <div className="ml-auto flex shrink-0 gap-1">
          {RUN_SIZES.map((n) => (
            <button
              key={n}
              data-testid={`chaos-run-size-${n}`}
              aria-pressed={size === n}
              disabled={running}
              onClick={() => setSize(n)}
              className={`rounded border px-1.5 py-0.5 text-xs disabled:opacity-40 ${size === n ? "border-sky-400 text-sky-200" : "border-slate-700 text-slate-400 hover:border-slate-500"}`}
            >
              {fmtEvents(n)}
            </button>
          ))}
        </div>
        <button
          data-testid="chaos-run-start"
          disabled={running}
          onClick={() => void start(chaosRunRequest(size))}
          className="shrink-0 rounded border border-emerald-500 bg-emerald-500/10 px-3 py-0.5 text-sm font-semibold text-emerald-300 hover:bg-emerald-500/20 disabled:cursor-not-allowed disabled:opacity-40"
        >
          {running ? "running…" : "Start run"}
        </button>
      </div>
      {!live ? (
        <p className="text-sm text-slate-400">
          Runs the monolith once for the reference checksum, then the split chain through the services above. Kill a stage while the split runs: it comes back,
          and the checksum still matches.
        </p>
      ) : (
        <>
          {(live.message || (error && !running)) && (
            <div className={`truncate text-xs ${live.phase === "failed" || error ? "text-red-300" : "text-slate-400"}`} title={live.message}>
              {error && !running ? `${error.action}: ${error.message}` : live.message}
            </div>
          )}
          <div className="flex items-center gap-3">
            <div data-testid="chaos-run-bar" data-value={done} data-total={live.events} data-estimated={estimated} className="h-3 flex-1 overflow-hidden rounded-full bg-slate-800">
              <div className="h-full rounded-full transition-[width] duration-200" style={{ width: `${current ? pct : ended ? 100 : 0}%`, background: current ? modeColor(current) : phaseColor }} />
            </div>
            <span
              data-testid="chaos-run-events"
              className="shrink-0 text-sm tabular-nums text-slate-300"
              title={estimated ? "estimated from the graph's ingest → parse rate (events replayed after a kill count again)" : undefined}
            >
              {current ? `${approx}${fmtNum(done)} / ${fmtNum(live.events)}` : `${fmtNum(live.events)} events`}
            </span>
            {!ended && (
              <span data-testid="chaos-run-rate" className="w-32 shrink-0 text-right text-2xl font-semibold tabular-nums" style={{ color: current ? modeColor(current) : "#64748b" }}>
                {current ? `${approx}${rate > 0 ? fmtRate(rate) : "0 /s"}` : "–"}
              </span>
            )}
          </div>
          <Timeline live={live} startedAtMs={startedAtMs} />
        </>
      )}
    </section>
  );
}
