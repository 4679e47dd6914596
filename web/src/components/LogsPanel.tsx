// The Logs panel: a merged live tail of every service (SubscribeLogs), filters kept in the URL,
// Pause that keeps buffering, runtime markers inline, and the server's drop/truncation counters
// in the header so nothing is lost silently. Needs only the app's TransportProvider.

import { memo, useEffect, useLayoutEffect, useMemo, useRef, useState } from "react";
import { formatLogTime, regexError, serviceColor, type LogFilters, type LogLineView, type LogStatsView } from "../logAdapters";
import { MAX_LINES, useLogStore } from "../logStore";
import { levelColor, markerColor, streamStatusColor } from "../theme";
import { useLogStats } from "../useLogStats";
import { useLogStream } from "../useLogStream";
import { useLogUrlFilters } from "../useLogUrlFilters";

const LEVEL_OPTIONS: LogFilters["level"][] = ["", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
const DEBOUNCE_MS = 300;

const inputClass =
  "rounded border border-slate-700 bg-slate-900 px-2 py-0.5 text-xs text-slate-200 placeholder:text-slate-500 focus:border-slate-400 focus:outline-none";

const setFilter = (patch: Partial<LogFilters>) => {
  const s = useLogStore.getState();
  s.setFilters({ ...s.filters, ...patch });
};

const LogRow = memo(function LogRow({ line }: { line: LogLineView }) {
  const time = formatLogTime(line.tsMs);
  if (line.marker) {
    return (
      <div
        data-testid="log-marker"
        data-service={line.service}
        className="my-0.5 flex gap-2 border-l-2 py-0.5 pl-2 italic"
        style={{ borderColor: markerColor, background: "rgba(192,132,252,0.08)" }}
      >
        <span className="shrink-0 text-slate-500 tabular-nums">{time}</span>
        <span className="shrink-0" style={{ color: markerColor }}>
          ◆
        </span>
        <span className="shrink-0 font-medium" style={{ color: serviceColor(line.service) }}>
          {line.service}
        </span>
        <span className="whitespace-pre-wrap break-all" style={{ color: line.level === "INFO" ? markerColor : levelColor[line.level] }}>
          {line.message}
        </span>
      </div>
    );
  }
  return (
    <div data-testid="log-line" data-level={line.level} data-service={line.service} className="flex items-start gap-2 px-2 leading-5 hover:bg-slate-900">
      <span className="shrink-0 text-slate-500 tabular-nums">{time}</span>
      <button
        className="w-36 shrink-0 truncate text-left font-medium hover:underline"
        style={{ color: serviceColor(line.service) }}
        title={`${line.service}${line.instanceId ? ` (${line.instanceId})` : ""}: show only this service`}
        onClick={() => setFilter({ services: [line.service] })}
      >
        {line.service}
      </button>
      <span className="w-10 shrink-0 font-semibold" style={{ color: levelColor[line.level] }}>
        {line.level === "UNKNOWN" ? "?" : line.level}
      </span>
      <span className="min-w-0 flex-1 whitespace-pre-wrap break-all text-slate-200">
        {line.message}
        {line.truncated && (
          <span className="ml-1 rounded bg-amber-900/60 px-1 text-[10px] text-amber-300" title="cut to the server's size limit">
            truncated
          </span>
        )}
        {line.fields.length > 0 && (
          <span className="ml-2 text-slate-500">
            {line.fields.map(([k, v]) => (
              <span key={k} className="mr-2">
                {k}=<span className="text-slate-400">{v}</span>
              </span>
            ))}
          </span>
        )}
        {line.correlationId && (
          <button
            className="ml-1 rounded bg-slate-800 px-1 text-[10px] text-sky-300 hover:bg-slate-700"
            title="follow this request: filter by its correlation id"
            onClick={() => setFilter({ correlationId: line.correlationId })}
          >
            {line.correlationId}
          </button>
        )}
      </span>
    </div>
  );
});

function Counters({ stats }: { stats: LogStatsView | null }) {
  if (!stats) return <span className="text-xs text-slate-500">counters: –</span>;
  const title = stats.perService
    .map((s) => `${s.service}: ${s.accepted} accepted, ${s.truncated} truncated, ${s.droppedRateLimit} dropped (rate limit), ${s.droppedEvicted} evicted`)
    .join("\n");
  const warn = (n: number) => (n > 0 ? "text-amber-300" : "text-slate-400");
  return (
    <span data-testid="logs-counters" className="text-xs tabular-nums text-slate-400" title={title}>
      {stats.accepted} accepted · <span className={warn(stats.truncated)} data-testid="logs-truncated">{stats.truncated} truncated</span> ·{" "}
      <span className={warn(stats.droppedRateLimit)} data-testid="logs-dropped">
        {stats.droppedRateLimit} dropped (rate limit)
      </span>{" "}
      · <span title="pushed out of the server's ring buffer; still in its NDJSON files">{stats.droppedEvicted} evicted</span>
    </span>
  );
}

/** A text filter edited locally and applied after a pause in typing. */
function useDebouncedFilter(key: "text" | "regex" | "correlationId") {
  const value = useLogStore((s) => s.filters[key]);
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  useEffect(() => {
    if (draft === value) return;
    if (key === "regex" && regexError(draft)) return;
    const t = setTimeout(() => setFilter({ [key]: draft }), DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [draft, value, key]);
  return [draft, setDraft] as const;
}

function Filters() {
  const filters = useLogStore((s) => s.filters);
  const stats = useLogStore((s) => s.stats);
  const lines = useLogStore((s) => s.lines);
  const [text, setText] = useDebouncedFilter("text");
  const [regex, setRegex] = useDebouncedFilter("regex");
  const [corr, setCorr] = useDebouncedFilter("correlationId");
  const badRegex = regexError(regex);
  const services = useMemo(() => {
    const names = new Set<string>(filters.services);
    for (const s of stats?.perService ?? []) names.add(s.service);
    for (const l of lines) names.add(l.service);
    return [...names].sort();
  }, [filters.services, stats, lines]);
  const any = filters.services.length > 0 || filters.level || filters.text || filters.regex || filters.correlationId;
  return (
    <div className="flex flex-wrap items-center gap-2 border-b border-slate-800 px-3 py-1.5">
      <select
        data-testid="logs-filter-service"
        className={inputClass}
        value={filters.services.length === 1 ? filters.services[0] : filters.services.length > 1 ? "__many" : ""}
        onChange={(e) => setFilter({ services: e.target.value ? [e.target.value] : [] })}
      >
        <option value="">all services</option>
        {filters.services.length > 1 && <option value="__many">{filters.services.join(", ")}</option>}
        {services.map((s) => (
          <option key={s} value={s}>
            {s}
          </option>
        ))}
      </select>
      <select
        data-testid="logs-filter-level"
        className={inputClass}
        value={filters.level}
        onChange={(e) => setFilter({ level: e.target.value as LogFilters["level"] })}
      >
        {LEVEL_OPTIONS.map((l) => (
          <option key={l} value={l}>
            {l ? `≥ ${l}` : "all levels"}
          </option>
        ))}
      </select>
      <input data-testid="logs-filter-text" className={`${inputClass} w-36`} placeholder="text" value={text} onChange={(e) => setText(e.target.value)} />
      <input
        data-testid="logs-filter-regex"
        className={`${inputClass} w-36 font-mono ${badRegex ? "border-red-500" : ""}`}
        placeholder="/regex/"
        value={regex}
        title={badRegex ? `invalid regex: ${badRegex}` : "JavaScript regular expression on the message"}
        onChange={(e) => setRegex(e.target.value)}
      />
      <input
        data-testid="logs-filter-correlation"
        className={`${inputClass} w-40`}
        placeholder="correlation id"
        value={corr}
        onChange={(e) => setCorr(e.target.value)}
      />
      {badRegex && <span className="text-xs text-red-400">invalid regex: {badRegex}</span>}
      {any && (
        <button className="text-xs text-slate-400 hover:text-slate-100" onClick={() => setFilter({ services: [], level: "", text: "", regex: "", correlationId: "" })}>
          clear filters
        </button>
      )}
    </div>
  );
}

function Header() {
  const status = useLogStore((s) => s.status);
  const detail = useLogStore((s) => s.statusDetail);
  const paused = useLogStore((s) => s.paused);
  const waiting = useLogStore((s) => s.waiting);
  const stats = useLogStore((s) => s.stats);
  const shown = paused ? "paused" : status;
  const color = streamStatusColor[shown];
  return (
    <div className="flex flex-wrap items-center gap-3 border-b border-slate-800 px-3 py-1.5">
      <h2 className="text-sm font-semibold text-slate-100">Logs</h2>
      <span data-testid="logs-status" data-status={shown} className="flex items-center gap-1.5 text-xs" title={detail}>
        <span className="inline-block h-2 w-2 rounded-full" style={{ background: color }} />
        <span style={{ color }}>{shown}</span>
        {status === "reconnecting" && detail && <span className="max-w-60 truncate text-slate-500">{detail}</span>}
      </span>
      <Counters stats={stats} />
      <div className="ml-auto flex items-center gap-2">
        {paused && (
          <span data-testid="logs-waiting" className="text-xs text-amber-300 tabular-nums">
            {waiting} new {waiting === 1 ? "line" : "lines"} waiting
            {waiting > MAX_LINES ? ` (newest ${MAX_LINES} kept)` : ""}
          </span>
        )}
        <button
          data-testid="logs-pause"
          className="rounded border border-slate-700 px-2 py-0.5 text-xs text-slate-200 hover:border-slate-400 hover:bg-slate-800"
          onClick={() => useLogStore.getState().setPaused(!paused)}
        >
          {paused ? "Resume" : "Pause"}
        </button>
        <button className="text-xs text-slate-400 hover:text-slate-100" onClick={() => useLogStore.getState().clear()} title="clear the lines on screen">
          Clear
        </button>
      </div>
    </div>
  );
}

function Lines() {
  const lines = useLogStore((s) => s.lines);
  const ref = useRef<HTMLDivElement>(null);
  // Follows the tail unless the reader scrolled up.
  const atBottom = useRef(true);
  useLayoutEffect(() => {
    const el = ref.current;
    if (el && atBottom.current) el.scrollTop = el.scrollHeight;
  }, [lines]);
  return (
    <div
      ref={ref}
      data-testid="logs-lines"
      className="min-h-0 flex-1 overflow-y-auto py-1 font-mono text-xs leading-5"
      // Rows leave at the top as new ones arrive; anchoring would fight the tail-follow.
      style={{ overflowAnchor: "none" }}
      onScroll={(e) => {
        const el = e.currentTarget;
        atBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 24;
      }}
    >
      {lines.length === 0 && <div className="px-3 py-2 text-slate-500">No log lines (yet) for these filters.</div>}
      {lines.map((l) => (
        <LogRow key={l.key} line={l} />
      ))}
    </div>
  );
}

export function LogsPanel() {
  useLogUrlFilters();
  useLogStream();
  useLogStats();
  return (
    <section data-testid="logs-panel" className="flex h-full min-h-0 flex-col bg-slate-950">
      <Header />
      <Filters />
      <Lines />
    </section>
  );
}
