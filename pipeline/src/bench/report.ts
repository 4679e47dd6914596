// The benchmark report: figures folded from the process runs (pure, no I/O), and its Markdown.
// The CLI and the dashboard's BenchmarkService both get their report from here (the service runs
// the CLI), so they cannot disagree.

import { median, spread } from './stats.js';
import type {
  BenchReport,
  ModeSummary,
  ProcessSummary,
  RatioRow,
  RunRecord,
  ScalingPoint,
  StageSummary,
} from './report-types.js';

export const LABELS: Record<string, string> = {
  duckdb: 'duckdb (validated, oracle)',
  'duckdb-sql': 'duckdb-sql (plain SQL on valid-only input)',
  monolith: 'monolith (C++)',
  split: 'split (TS → Rust → Python → Go → TS)',
  'split-passthrough': 'split, pass-through (IPC only)',
};

/** What the bench measured: the report's given parts and the process runs to fold. */
export type ReportInput = Pick<BenchReport, 'id' | 'origin' | 'startedAt' | 'finishedAt' | 'machine' | 'loadAverage' | 'options' | 'inputs' | 'runs'>;

/** Counted, successful runs of the main matrix (not warm-ups, not the scaling sweep). */
function counted(runs: RunRecord[]): RunRecord[] {
  return runs.filter((r) => !r.warmup && r.partitions === null && r.exitCode === 0);
}

/** 1 − Σ min(busy, CPU) ÷ Σ CPU over stages; null without CPU. */
function ipcShareOf(stages: { busySeconds: number; cpuSeconds: number }[]): number | null {
  const cpu = stages.reduce((a, st) => a + st.cpuSeconds, 0);
  if (!(cpu > 0)) return null;
  const busy = stages.reduce((a, st) => a + Math.min(st.busySeconds, st.cpuSeconds), 0);
  return 1 - busy / cpu;
}

function medianOrNull(xs: (number | null)[]): number | null {
  const known = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  return known.length ? median(known) : null;
}

function summarize(input: ReportInput): ModeSummary[] {
  const out: ModeSummary[] = [];
  const ok = counted(input.runs);
  for (const { events, bytes } of input.inputs) {
    for (const mode of input.options.modes) {
      const rs = ok.filter((r) => r.mode === mode && r.events === events);
      if (rs.length === 0) continue;
      const engine = medianOrNull(rs.map((r) => r.engineWallSeconds));
      const wall = spread(rs.map((r) => r.processWallSeconds));
      const lats = rs.map((r) => r.batchLatencyMs).filter((x): x is NonNullable<typeof x> => x !== null);
      out.push({
        mode,
        label: LABELS[mode] ?? mode,
        events,
        bytes,
        runs: rs.length,
        wallSeconds: wall,
        engineWallSeconds: engine,
        // Per-run throughput, so its median and range are those of the runs themselves.
        eventsPerSecond: spread(rs.map((r) => events / r.processWallSeconds)),
        engineEventsPerSecond: engine ? events / engine : null,
        mbPerSecond: bytes / 1e6 / wall.median,
        p50Ms: lats.length ? median(lats.map((l) => l.p50)) : null,
        p95Ms: lats.length ? median(lats.map((l) => l.p95)) : null,
        p99Ms: lats.length ? median(lats.map((l) => l.p99)) : null,
        peakRssMB: Math.max(...rs.map((r) => r.peakRssBytes)) / 1e6,
        cpuSeconds: rs.every((r) => r.cpuSeconds !== null) ? median(rs.map((r) => r.cpuSeconds!)) : null,
        checksum: rs[0]!.checksum,
      });
    }
  }
  return out;
}

function ratios(input: ReportInput, summaries: ModeSummary[]): RatioRow[] {
  const ok = counted(input.runs);
  return input.inputs.map(({ events }) => {
    const get = (m: string) => summaries.find((s) => s.mode === m && s.events === events);
    const mono = get('monolith');
    const split = get('split');
    const pass = get('split-passthrough');
    const r = (a?: ModeSummary, b?: ModeSummary, engine = false) =>
      a && b
        ? engine
          ? a.engineEventsPerSecond !== null && b.engineEventsPerSecond !== null
            ? a.engineEventsPerSecond / b.engineEventsPerSecond
            : null
          : a.eventsPerSecond.median / b.eventsPerSecond.median
        : null;
    return {
      events,
      monolithVsDuckdbSql: r(mono, get('duckdb-sql')),
      monolithVsDuckdbSqlEngine: r(mono, get('duckdb-sql'), true),
      monolithVsDuckdbOracle: r(mono, get('duckdb')),
      splitVsMonolith: r(split, mono),
      splitVsMonolithEngine: r(split, mono, true),
      splitVsMonolithP99: split?.p99Ms != null && mono?.p99Ms != null && mono.p99Ms > 0 ? split.p99Ms / mono.p99Ms : null,
      ipcCpuShare: medianOrNull(ok.filter((x) => x.mode === 'split' && x.events === events && x.stages?.length).map((x) => ipcShareOf(x.stages!))),
      // The pass-through chain moves raw lines through every hop (the real chain moves columns
      // after parse), so this ratio is an upper bound on what the transport costs.
      passthroughCpuRatio: split?.cpuSeconds != null && pass?.cpuSeconds != null && split.cpuSeconds > 0 ? pass.cpuSeconds / split.cpuSeconds : null,
    };
  });
}

function processes(input: ReportInput): ProcessSummary[] {
  const out: ProcessSummary[] = [];
  const ok = counted(input.runs);
  for (const { events } of input.inputs) {
    for (const mode of input.options.modes) {
      const rs = ok.filter((r) => r.mode === mode && r.events === events);
      const names = [...new Set(rs.flatMap((r) => r.processes.map((p) => p.name)))];
      for (const name of names) {
        const all = rs.flatMap((r) => r.processes.filter((p) => p.name === name));
        out.push({
          mode,
          events,
          name,
          language: all[0]!.language,
          cpuSeconds: medianOrNull(all.map((p) => p.cpuSeconds)),
          peakRssMB: Math.max(...all.map((p) => p.peakRssBytes)) / 1e6,
        });
      }
    }
  }
  return out;
}

function stages(input: ReportInput): StageSummary[] {
  const out: StageSummary[] = [];
  const ok = counted(input.runs);
  for (const mode of ['split', 'split-passthrough']) {
    for (const { events } of input.inputs) {
      const rs = ok.filter((r) => r.mode === mode && r.events === events && r.stages?.length);
      if (rs.length === 0) continue;
      for (const first of rs[0]!.stages!) {
        const all = rs.map((r) => r.stages!.find((x) => x.stage === first.stage)).filter((x) => x !== undefined);
        const m = (f: (x: (typeof all)[number]) => number) => median(all.map(f));
        out.push({
          mode,
          events,
          stage: first.stage,
          language: first.language,
          busySeconds: m((x) => x.busySeconds),
          waitSeconds: m((x) => x.waitSeconds),
          cpuSeconds: m((x) => x.cpuSeconds),
          peakRssMB: Math.max(...all.map((x) => x.peakRssBytes)) / 1e6,
          ipcShare: medianOrNull(all.map((x) => ipcShareOf([x]))),
        });
      }
    }
  }
  return out;
}

function scaling(input: ReportInput): ScalingPoint[] {
  const out: ScalingPoint[] = [];
  const sweep = input.runs.filter((r) => r.partitions !== null && r.exitCode === 0 && !r.warmup);
  for (const mode of ['monolith', 'split']) {
    let base: { partitions: number; eventsPerSecond: number } | undefined;
    for (const p of [...input.options.scalingPartitions].sort((a, b) => a - b)) {
      const rs = sweep.filter((r) => r.mode === mode && r.partitions === p);
      if (rs.length === 0) continue;
      const events = rs[0]!.events;
      const agg = rs
        .map((r) => r.stages?.find((s) => s.stage === 'aggregate'))
        .filter((s) => s !== undefined && s.busySeconds > 0)
        .map((s) => events / s!.busySeconds);
      const eventsPerSecond = spread(rs.map((r) => events / r.processWallSeconds));
      base ??= { partitions: p, eventsPerSecond: eventsPerSecond.median };
      const speedup = eventsPerSecond.median / base.eventsPerSecond;
      out.push({
        mode,
        events,
        partitions: p,
        runs: rs.length,
        eventsPerSecond,
        aggregateEventsPerSecond: agg.length ? median(agg) : null,
        speedup,
        efficiency: speedup / (p / base.partitions),
        checksum: rs[0]!.checksum,
      });
    }
  }
  return out;
}

function problems(input: ReportInput): string[] {
  const out: string[] = [];
  const describe = (r: RunRecord) => `${r.mode}${r.partitions !== null ? ` (${r.partitions} partitions)` : ''}${r.warmup ? ' (warm-up)' : ''}`;
  for (const { events } of input.inputs) {
    const rs = input.runs.filter((r) => r.events === events);
    const failed = rs.filter((r) => r.exitCode !== 0);
    if (failed.length) out.push(`${events} events: ${failed.length} run(s) failed (${[...new Set(failed.map(describe))].join(', ')})`);
    const good = rs.filter((r) => r.exitCode === 0 && r.mode !== 'split-passthrough');
    const sums = new Set(good.map((r) => r.checksum));
    if (sums.size > 1) {
      out.push(`${events} events: checksums differ: ${good.map((r) => `${describe(r)}#${r.run}=${r.checksum.slice(0, 12) || '(none)'}`).join(' ')}`);
    }
  }
  return out;
}

/** Folds the process runs into the report. */
export function buildReport(input: ReportInput): BenchReport {
  const summaries = summarize(input);
  const found = problems(input);
  return {
    version: 2,
    id: input.id,
    origin: input.origin,
    startedAt: input.startedAt,
    finishedAt: input.finishedAt,
    machine: input.machine,
    loadAverage: input.loadAverage,
    options: input.options,
    inputs: input.inputs,
    summaries,
    ratios: ratios(input, summaries),
    processes: processes(input),
    stages: stages(input),
    scaling: scaling(input),
    runs: input.runs,
    checksumsAgree: found.length === 0,
    problems: found,
  };
}

export function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function pct(x: number | null): string {
  return x === null ? '–' : `${fmt(x * 100, 1)} %`;
}

/** The summary table alone (the CLI prints it). */
export function summaryTable(report: BenchReport): string {
  return [
    '| events | mode | runs | wall s (median, min–max) | events/s (median) | events/s min–max | MB/s | engine events/s | batch p50 ms | p95 ms | p99 ms | CPU s | peak RSS MB | checksum |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...report.summaries.map(
      (s) =>
        `| ${fmt(s.events)} | ${s.label} | ${s.runs} | ${fmt(s.wallSeconds.median, 2)} (${fmt(s.wallSeconds.min, 2)}–${fmt(s.wallSeconds.max, 2)}) | ` +
        `${fmt(s.eventsPerSecond.median)} | ${fmt(s.eventsPerSecond.min)}–${fmt(s.eventsPerSecond.max)} | ${fmt(s.mbPerSecond, 1)} | ${fmt(s.engineEventsPerSecond)} | ` +
        `${fmt(s.p50Ms, 2)} | ${fmt(s.p95Ms, 2)} | ${fmt(s.p99Ms, 2)} | ${fmt(s.cpuSeconds, 2)} | ${fmt(s.peakRssMB, 0)} | \`${s.checksum.slice(0, 12)}\` |`,
    ),
  ].join('\n');
}

/** The headline ratios, one bullet each. */
export function ratioLines(report: BenchReport): string[] {
  return report.ratios.flatMap((r) => [
    ...(r.monolithVsDuckdbSql !== null
      ? [
          `- ${fmt(r.events)} events: monolith / duckdb-sql = **${fmt(r.monolithVsDuckdbSql, 2)}×** (process wall time; ` +
            `${fmt(r.monolithVsDuckdbSqlEngine, 2)}× on engine-reported time), monolith / duckdb oracle = ${fmt(r.monolithVsDuckdbOracle, 2)}×`,
        ]
      : []),
    ...(r.splitVsMonolith !== null
      ? [
          `- ${fmt(r.events)} events: split / monolith throughput = **${fmt(r.splitVsMonolith, 2)}×** (${fmt(r.splitVsMonolithEngine, 2)}× on engine-reported time; floor 0.5×, goal 0.8×), ` +
            `split / monolith p99 batch latency = **${fmt(r.splitVsMonolithP99, 2)}×** (≤ 2×), CPU share spent on IPC = **${pct(r.ipcCpuShare)}** (≤ 30 %, goal ≤ 15 %; ` +
            `pass-through chain CPU / split CPU = ${fmt(r.passthroughCpuRatio, 2)}×)`,
        ]
      : []),
  ]);
}

/** The batch size the runs used, as their metrics.json files say ("default" when none says). */
function batchSizeText(report: BenchReport): string {
  const sizes = new Map<number, Set<string>>();
  for (const r of counted(report.runs)) {
    if (typeof r.batchSize !== 'number') continue;
    const modes = sizes.get(r.batchSize) ?? new Set<string>();
    modes.add(r.mode === 'split-passthrough' ? 'split' : r.mode);
    sizes.set(r.batchSize, modes);
  }
  const from = report.options.batchSize !== undefined ? '--batch-size' : 'default';
  if (sizes.size === 0) return `Batch size ${report.options.batchSize ?? 'default'}`;
  if (sizes.size === 1) {
    const [[n, modes]] = [...sizes];
    return `Batch size ${fmt(n)} lines (${from}; ${[...modes].join(' and ')})`;
  }
  return `Batch sizes ${[...sizes].map(([n, modes]) => `${fmt(n)} lines (${[...modes].join(', ')})`).join(', ')}`;
}

/** The whole report as Markdown (bench.md). */
export function renderMarkdown(report: BenchReport): string {
  const o = report.options;
  const m = report.machine;
  const processRows = report.processes.map(
    (p) => `| ${fmt(p.events)} | ${p.mode} | ${p.name} | ${p.language} | ${fmt(p.cpuSeconds, 2)} | ${fmt(p.peakRssMB, 0)} |`,
  );
  const stageRows = report.stages.map(
    (s) =>
      `| ${fmt(s.events)} | ${s.mode} | ${s.stage} (${s.language}) | ${fmt(s.busySeconds, 2)} | ${fmt(s.waitSeconds, 2)} | ${fmt(s.cpuSeconds, 2)} | ${pct(s.ipcShare)} | ${fmt(s.peakRssMB, 0)} |`,
  );
  const scalingRows = report.scaling.map(
    (p) =>
      `| ${p.mode} | ${p.partitions} | ${fmt(p.events)} | ${p.runs} | ${fmt(p.eventsPerSecond.median)} | ${fmt(p.eventsPerSecond.min)}–${fmt(p.eventsPerSecond.max)} | ` +
      `${fmt(p.speedup, 2)}× | ${pct(p.efficiency)} | ${fmt(p.aggregateEventsPerSecond)} | \`${p.checksum.slice(0, 12)}\` |`,
  );
  const lines = [
    '# Pipeline benchmark',
    '',
    `Run ${report.id} (from the ${report.origin === 'cli' ? 'CLI' : 'dashboard'}), ${report.startedAt} → ${report.finishedAt}.`,
    '',
    `Machine: ${m.cores} cores (${m.cpuModel}), ${m.memoryGB} GB RAM (${m.freeMemoryGB} GB free at start), Linux ${m.kernel}, Node ${m.node}, DuckDB ${m.duckdb}, ${Object.values(m.toolchains ?? {}).join(', ')}, commit ${m.gitCommit}.`,
    '',
    `Load average (1/5/15 min) at start ${report.loadAverage.before.join(' / ')}, at end ${report.loadAverage.after.join(' / ')} — other processes on the box add noise.`,
    '',
    `Input: generated with seed ${o.seed}, ${o.users} users, event times over ${o.days} days, ${o.distribution} distribution, no invalid lines (so the plain-SQL baseline can read the same file). ` +
      `Rules: ${o.rulesPath ?? 'default (§4.3)'}. ${batchSizeText(report)}, partitions ${o.partitions ?? 'default'}. ` +
      `${o.warmup} warm-up run(s) per mode and size (not counted), then ${o.runs} counted run(s), interleaved and rotated; medians with min–max.`,
    '',
    summaryTable(report),
    '',
    '## Ratios (same benchmark, same file)',
    '',
    ...(ratioLines(report).length ? ratioLines(report) : ['- (needs monolith with duckdb or split)']),
    '',
  ];
  if (processRows.length) {
    lines.push(
      '## CPU and memory per process (median CPU, highest RSS over the counted runs)',
      '',
      '| events | mode | process | language | CPU s | peak RSS MB |',
      '|---:|---|---|---|---:|---:|',
      ...processRows,
      '',
    );
  }
  if (stageRows.length) {
    lines.push(
      '## Split stages (median over the counted runs)',
      '',
      '| events | mode | stage | busy s | waiting on IPC s | CPU s | IPC share | peak RSS MB |',
      '|---:|---|---|---:|---:|---:|---:|---:|',
      ...stageRows,
      '',
    );
  }
  if (scalingRows.length) {
    lines.push(
      '## Scaling: throughput against partitions',
      '',
      `Same input, ${o.runs} run(s) per point; the monolith's --partitions (aggregation shards; its threads stay at ${o.threads ?? 'the core count'}), the split aggregate service's goroutine partitions. ` +
        `Speedup is against the smallest partition count, efficiency is speedup ÷ the partition ratio. "aggregate alone" is events ÷ the aggregate stage's busy seconds: its folding speed without the rest of the chain. With ${m.cores} cores, more partitions than cores cannot add throughput.`,
      '',
      '| mode | partitions | events | runs | events/s (median) | min–max | speedup | efficiency | aggregate alone events/s | checksum |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|',
      ...scalingRows,
      '',
    );
  }
  lines.push(
    '## How it is measured',
    '',
    '- Every run is a separate child process. "wall s" is the process wall time measured by the bench (spawn → exit), so it includes',
    '  process start-up: the monolith binary; for the other modes Node with the pipeline CLI (bundled by esbuild, so not transpiled per run), for the DuckDB modes also loading DuckDB. "engine events/s" uses the wallSeconds each engine reports in its metrics.json.',
    '- events/s and MB/s are computed from the process wall time and the input file size; the events/s median and range are over the per-run figures.',
    '- duckdb (validated, oracle): the strict TypeScript §4.2 validator reads every line, then DuckDB SQL applies rules and aggregates.',
    '- duckdb-sql: `read_ndjson` with explicit columns and the same SQL, no validation (valid-only input); it produces the same results.json.',
    "- Batch latency percentiles come from each engine's metrics.json (`batchLatencyMs`): for the monolith a batch's time from read to aggregated; for the split a batch's time from ingest sending it to the sink receiving it folded (nearest-rank percentiles). The table shows the median over runs of each run's percentile.",
    '- split: the five stages run under a control server (the running `npm start` one when it has them, else a headless one started for the whole benchmark); each run is `pipeline run --mode split --control-url …`. ' +
      "Its peak RSS is the sum of the five processes' high-water marks; its CPU seconds are summed over the five stage processes during the run; the client process (`pipeline run`, which only starts the run and prints progress) is listed apart in the per-process table.",
    report.options.inlineLines
      ? "- split transport (`--inline-lines`): every hop is a gRPC stream; the ingest → parse hop carries the line data inside its messages."
      : "- split transport: ingest hands parse the line data through shared memory (a tmpfs file that ingest writes with pwrite and parse maps read-only; a slot is written again only after parse has acknowledged its batch). The batch's metadata, credits and acks, and every later hop, go over gRPC streams. Ingest's write into the file counts as IPC; parse's reads of the mapped lines are part of its work. `--inline-lines` sends the line data inside the stream's messages instead, for comparison.",
    "- CPU seconds per process: the stages report their own CPU over the run; for the other modes the bench reads utime + stime of the child from /proc every 10 ms, so the last ≤ 10 ms before exit are missed.",
    '- IPC share: 1 − (Σ busy ÷ Σ CPU) over the five stage processes of the real split run, where busy is the time each stage spends in its own work (capped at its CPU time): the rest is serialisation, transport and runtime overhead around the messages. ' +
      'Next to it, the CPU of the pass-through chain (every stage forwards batches unchanged, the sink writes nothing) over the CPU of the real run — an upper bound, since pass-through carries raw lines through all four hops where the real chain carries compact columns after parse.',
    '- Conditions: the page cache is warm (the input was just generated or read by a warm-up run; caches are not dropped); processes are not pinned to cores: the OS schedules every process over all cores, as in production. Batch size and partitions are the same for the monolith and the split.',
    '- Peak RSS: highest VmHWM seen while polling /proc/<pid>/status every 10 ms, or the value the process reports itself, whichever is higher. ' +
      "The split stages outlive a run, so their VmHWM is reset before each run (clear_refs) and read after it: a run's figure is its own peak, not the highest of every run before it. It still includes what earlier runs left in the process (allocators keep freed memory), so the pass-through runs, whose raw lines pass through every stage, come after all other runs. The split's figure is the sum over its five stages.",
    '',
    report.problems.length ? `## Problems\n\n${report.problems.map((p) => `- ${p}`).join('\n')}\n` : 'All checksums agree across modes and runs.\n',
  );
  return lines.join('\n');
}
