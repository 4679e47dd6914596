// The benchmark report's folding and rendering, from hand-made run records with known answers.
import { describe, expect, it } from 'vitest';
import { planSteps } from '../src/bench/bench.js';
import { entryFromReport, isRunId, newRunId } from '../src/bench/history.js';
import { buildReport, renderMarkdown, type ReportInput } from '../src/bench/report.js';
import type { RunRecord, StageFigures } from '../src/bench/report-types.js';

const SUM = 'a'.repeat(64);

function rec(mode: string, run: number, wall: number, over: Partial<RunRecord> = {}): RunRecord {
  return {
    mode, events: 1000, run, warmup: run === 0, partitions: null, processWallSeconds: wall, engineWallSeconds: wall / 2,
    peakRssBytes: 50e6, checksum: mode === 'split-passthrough' ? '' : SUM, batchLatencyMs: null, cpuSeconds: 1,
    processes: [{ name: mode, language: 'x', cpuSeconds: 1, peakRssBytes: 50e6 }], stages: null, exitCode: 0, ...over,
  };
}

const stage = (name: string, busy: number, cpu: number): StageFigures => ({ stage: name, language: 'go', busySeconds: busy, waitSeconds: 0.1, cpuSeconds: cpu, peakRssBytes: 10e6 });

function input(runs: RunRecord[], extra: Partial<ReportInput['options']> = {}): ReportInput {
  return {
    id: '20261129T082500Z-3fa9c1', origin: 'cli', startedAt: '2026-11-29T08:25:00.000Z', finishedAt: '2026-11-29T08:26:00.000Z',
    machine: { cores: 2, cpuModel: 'Test CPU', memoryGB: 24, freeMemoryGB: 20, kernel: '6.1', node: 'v20', duckdb: 'v1.5', toolchains: { go: 'go version go1.23' }, gitCommit: 'abc1234' },
    loadAverage: { before: [0.5, 0.4, 0.3], after: [1, 0.5, 0.3] },
    options: { modes: ['duckdb-sql', 'monolith', 'split', 'split-passthrough'], events: [1000], runs: 3, warmup: 1, seed: 42, users: 10, days: 7, distribution: 'uniform', scalingPartitions: [], ...extra },
    inputs: [{ events: 1000, path: '/tmp/x', bytes: 2_000_000 }],
    runs,
  };
}

describe('bench report', () => {
  const lat = (p99: number) => ({ p50: 1, p95: 2, p99 });
  const runs = [
    rec('monolith', 0, 100), // warm-up: never counted
    rec('monolith', 1, 0.5, { batchLatencyMs: lat(10) }),
    rec('monolith', 2, 0.25, { batchLatencyMs: lat(20) }),
    rec('monolith', 3, 1, { batchLatencyMs: lat(30) }),
    rec('duckdb-sql', 1, 2),
    rec('duckdb-sql', 2, 2),
    rec('duckdb-sql', 3, 4),
    ...[1, 2, 3].map((r) => rec('split', r, 2, { batchLatencyMs: lat(90), cpuSeconds: 4, stages: [stage('parse', 1, 2), stage('aggregate', 3, 2)] })),
    ...[1, 2, 3].map((r) => rec('split-passthrough', r, 1, { cpuSeconds: 2 })),
  ];
  const report = buildReport(input(runs));

  it('takes medians with min–max over the counted runs only', () => {
    const mono = report.summaries.find((s) => s.mode === 'monolith')!;
    expect(mono.runs).toBe(3);
    expect(mono.wallSeconds).toEqual({ median: 0.5, min: 0.25, max: 1 });
    expect(mono.eventsPerSecond).toEqual({ median: 2000, min: 1000, max: 4000 });
    expect(mono.mbPerSecond).toBe(4); // 2 MB in 0.5 s
    expect(mono.p99Ms).toBe(20);
    expect(mono.engineEventsPerSecond).toBe(4000);
  });

  it('computes the ratios and the IPC share from the same figures', () => {
    const r = report.ratios[0]!;
    expect(r.monolithVsDuckdbSql).toBe(2000 / 500);
    expect(r.splitVsMonolith).toBe(500 / 2000);
    expect(r.splitVsMonolithP99).toBe(90 / 20);
    // busy capped at CPU: parse 1 of 2, aggregate 2 of 2 → 1 − 3/4.
    expect(r.ipcCpuShare).toBe(0.25);
    expect(r.passthroughCpuRatio).toBe(0.5);
    expect(r.monolithVsDuckdbOracle).toBeNull();
    const parse = report.stages.find((s) => s.mode === 'split' && s.stage === 'parse')!;
    expect(parse.ipcShare).toBe(0.5);
    expect(report.stages.find((s) => s.stage === 'aggregate')!.ipcShare).toBe(0);
  });

  it('flags differing checksums and failed runs, ignoring the pass-through chain', () => {
    expect(report.checksumsAgree).toBe(true);
    const bad = buildReport(input([...runs, rec('monolith', 4, 1, { checksum: 'b'.repeat(64) }), rec('duckdb-sql', 4, 1, { exitCode: 1 })]));
    expect(bad.checksumsAgree).toBe(false);
    expect(bad.problems.join('\n')).toMatch(/1 run\(s\) failed \(duckdb-sql\)/);
    expect(bad.problems.join('\n')).toMatch(/checksums differ: .*monolith#4=bbbbbbbbbbbb/);
  });

  it('folds the scaling sweep per mode and partition count', () => {
    const sweep = [1, 2].flatMap((p) => [
      rec('monolith', 1, 1 / p, { partitions: p }),
      rec('split', 1, 2 / p, { partitions: p, stages: [stage('aggregate', 0.5 / p, 1)] }),
    ]);
    const uneven = buildReport(input([...runs, rec('monolith', 1, 1, { partitions: 2 }), rec('monolith', 1, 0.8, { partitions: 8 })], { scalingPartitions: [8, 2] })).scaling;
    // 1.25× from 4× the partitions: 31 % efficient.
    expect(uneven.map((x) => [x.partitions, x.speedup, x.efficiency])).toEqual([[2, 1, 1], [8, 1.25, 0.3125]]);
    const s = buildReport(input([...runs, ...sweep], { scalingPartitions: [1, 2] })).scaling;
    expect(s.map((x) => [x.mode, x.partitions, x.eventsPerSecond.median, x.aggregateEventsPerSecond, x.speedup, x.efficiency])).toEqual([
      ['monolith', 1, 1000, null, 1, 1],
      ['monolith', 2, 2000, null, 2, 1],
      ['split', 1, 500, 2000, 1, 1],
      ['split', 2, 1000, 4000, 2, 1],
    ]);
    // Sweep runs are not counted in the main summary.
    expect(buildReport(input([...runs, ...sweep])).summaries.find((x) => x.mode === 'monolith')!.runs).toBe(3);
  });

  it('renders the Markdown with the machine, the table, the ratios and the stage table', () => {
    const md = renderMarkdown(report);
    expect(md).toMatch(/^# Pipeline benchmark\n/);
    expect(md).toContain('Machine: 2 cores (Test CPU), 24 GB RAM');
    expect(md).toContain('DuckDB v1.5, go version go1.23, commit abc1234.');
    expect(md).toContain('1 warm-up run(s) per mode and size (not counted), then 3 counted run(s)');
    expect(md).toContain('| 1,000 | monolith (C++) | 3 | 0.50 (0.25–1.00) | 2,000 | 1,000–4,000 | 4.0 | 4,000 | 1.00 | 2.00 | 20.00 |');
    expect(md).toContain('monolith / duckdb-sql = **4.00×**');
    expect(md).toContain('split / monolith throughput = **0.25×**');
    expect(md).toContain('CPU share spent on IPC = **25.0 %**');
    expect(md).toContain('| 1,000 | split | parse (go) | 1.00 | 0.10 | 2.00 | 50.0 % | 10 |');
    expect(md).toContain('All checksums agree across modes and runs.');
    expect(md).not.toContain('## Scaling');
  });

  it('says how the split moved its line data: shared memory, or inline with --inline-lines', () => {
    expect(renderMarkdown(report)).toContain('- split transport: ingest hands parse the line data through shared memory');
    const inline = renderMarkdown({ ...report, options: { ...report.options, inlineLines: true } });
    expect(inline).toContain('- split transport (`--inline-lines`): every hop is a gRPC stream');
    expect(inline).not.toContain('through shared memory');
  });

  it('names the batch size the engines report, or says when they differ', () => {
    expect(renderMarkdown(report)).toContain('Batch size default, partitions default.'); // no run says
    const sized = (n: number, m = n) => buildReport(input([
      rec('monolith', 1, 1, { batchSize: n }),
      rec('split', 1, 2, { batchSize: m }),
      rec('split-passthrough', 1, 2, { batchSize: m }),
      rec('duckdb-sql', 1, 2),
    ]));
    expect(renderMarkdown(sized(32768))).toContain('Batch size 32,768 lines (default; monolith and split), partitions default.');
    expect(renderMarkdown(sized(8192, 1000))).toContain('Batch sizes 8,192 lines (monolith), 1,000 lines (split), partitions');
  });

  it('becomes a history entry with the headline ratios', () => {
    const e = entryFromReport(report, 'md');
    expect(e).toMatchObject({ id: report.id, status: 'passed', splitVsMonolith: 0.25, monolithVsDuckdbSql: 4, startedAtMs: Date.parse('2026-11-29T08:25:00.000Z') });
    expect(isRunId(newRunId(new Date('2026-11-29T08:25:00.123Z'), () => 0.5))).toBe(true);
    expect(newRunId(new Date('2026-11-29T08:25:00.123Z'), () => 0.5)).toBe('20261129T082500Z-800000');
    expect(isRunId('../x')).toBe(false);
  });
});

describe('bench plan', () => {
  it('runs warm-ups first, rotates the counted runs, then sweeps monolith and split', () => {
    const steps = planSteps({ events: [10], runs: 2, warmup: 1, scalingPartitions: [1, 4] }, ['duckdb', 'monolith', 'split']);
    expect(steps.map((s) => `${s.mode}${s.warmup ? ':w' : `:${s.run}`}${s.partitions ? `:p${s.partitions}` : ''}`)).toEqual([
      'duckdb:w', 'monolith:w', 'split:w',
      'duckdb:1', 'monolith:1', 'split:1',
      'monolith:2', 'split:2', 'duckdb:2',
      'monolith:1:p1', 'split:1:p1', 'monolith:2:p1', 'split:2:p1',
      'monolith:1:p4', 'split:1:p4', 'monolith:2:p4', 'split:2:p4',
    ]);
  });

  it('runs the pass-through chain after everything else, so its memory does not show in the split runs', () => {
    const steps = planSteps({ events: [10, 20], runs: 2, warmup: 1, scalingPartitions: [2] }, ['monolith', 'split', 'split-passthrough']);
    expect(steps.map((s) => `${s.mode}:${s.events}${s.warmup ? ':w' : `:${s.run}`}${s.partitions ? `:p${s.partitions}` : ''}`)).toEqual([
      'monolith:10:w', 'split:10:w',
      'monolith:10:1', 'split:10:1',
      'split:10:2', 'monolith:10:2',
      'monolith:20:w', 'split:20:w',
      'monolith:20:1', 'split:20:1',
      'split:20:2', 'monolith:20:2',
      'monolith:10:1:p2', 'split:10:1:p2', 'monolith:10:2:p2', 'split:10:2:p2',
      'split-passthrough:10:w', 'split-passthrough:10:1', 'split-passthrough:10:2',
      'split-passthrough:20:w', 'split-passthrough:20:1', 'split-passthrough:20:2',
    ]);
  });
});
