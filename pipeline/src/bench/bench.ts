// `pipeline bench`: generates inputs once (cached), runs every mode as a child process,
// interleaved, N times; measures wall time, throughput, batch latency (from each engine's
// metrics.json) and peak RSS (polling /proc/<pid>/status VmHWM), checks that all checksums agree,
// and writes bench.md and bench.json. With `split`, one headless control server runs the five
// stages for the whole benchmark, and a pass-through run of the same chain (every stage forwards
// batches without working on them) measures what the IPC alone costs.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generate, DEFAULT_TYPES, type Distribution } from '../generate/generator.js';
import { buildMonolith, monolithArgv, REPO_ROOT } from '../engines/monolith-runner.js';
import { buildSplit, SplitStack } from '../engines/split-runner.js';

export interface BenchOptions {
  modes: string[];
  events: number[];
  runs: number;
  seed: number;
  users: number;
  days: number;
  distribution: Distribution;
  rulesPath?: string;
  outDir: string;
  threads?: number;
  batchSize?: number;
  partitions?: number;
}

/** Bumped whenever the generator's output changes, so cached inputs are not reused wrongly. */
const GENERATOR_VERSION = 2;
const CLI = join(REPO_ROOT, 'pipeline/src/cli.ts');

interface RunRecord {
  mode: string;
  events: number;
  run: number;
  processWallSeconds: number;
  engineWallSeconds: number | null;
  peakRssBytes: number;
  checksum: string;
  batchLatencyMs: { p50: number; p95: number; p99: number } | null;
  /** CPU seconds of the whole run as the engine reports them (split: summed over the stages). */
  cpuSeconds: number | null;
  /** Split only: each stage's figures from metrics.json. */
  stages: StageFigures[] | null;
  exitCode: number;
}

interface StageFigures {
  stage: string;
  language: string;
  busySeconds: number;
  waitSeconds: number;
  cpuSeconds: number;
  peakRssBytes: number;
}

interface Summary {
  mode: string;
  label: string;
  events: number;
  bytes: number;
  runs: number;
  processWallSeconds: number;
  engineWallSeconds: number | null;
  eventsPerSecond: number;
  engineEventsPerSecond: number | null;
  mbPerSecond: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  peakRssMB: number;
  cpuSeconds: number | null;
  checksum: string;
}

const LABELS: Record<string, string> = {
  duckdb: 'duckdb (validated, oracle)',
  'duckdb-sql': 'duckdb-sql (plain SQL on valid-only input)',
  monolith: 'monolith (C++)',
  split: 'split (TS → Rust → Python → Go → TS)',
  'split-passthrough': 'split, pass-through (IPC only)',
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function readHwm(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0; // process already gone
  }
}

/** Spawns a child, polls its VmHWM until it exits, and times it. */
function timedRun(cmd: string, args: string[]): Promise<{ code: number; seconds: number; hwm: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); if (stderr.length > 20000) stderr = stderr.slice(-10000); });
    let hwm = 0;
    const poll = setInterval(() => { if (child.pid) hwm = Math.max(hwm, readHwm(child.pid)); }, 10);
    child.on('error', (e) => { clearInterval(poll); reject(e); });
    child.on('exit', (code, signal) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      clearInterval(poll);
      resolve({ code: code ?? (signal ? 137 : 1), seconds, hwm, stderr });
    });
  });
}

async function ensureInput(o: BenchOptions, events: number, cacheDir: string): Promise<string> {
  const name = `events-v${GENERATOR_VERSION}-n${events}-s${o.seed}-u${o.users}-d${o.days}-${o.distribution}-valid.ndjson`;
  const path = join(cacheDir, name);
  if (existsSync(path)) {
    process.stderr.write(`bench: using cached input ${path}\n`);
    return path;
  }
  process.stderr.write(`bench: generating ${events.toLocaleString('en-US')} events → ${path}\n`);
  const tmp = path + '.tmp';
  const t0 = Date.now();
  await generate({ events, seed: o.seed, users: o.users, days: o.days, distribution: o.distribution, invalidRatio: 0, types: DEFAULT_TYPES, out: tmp });
  renameSync(tmp, path);
  process.stderr.write(`bench: generated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
  return path;
}

async function machine(): Promise<Record<string, unknown>> {
  const inst = await DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  const v = String((await conn.runAndReadAll('SELECT version()')).getRows()[0][0]);
  conn.closeSync();
  inst.closeSync();
  const c = cpus();
  return {
    cores: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryGB: +(totalmem() / 1024 ** 3).toFixed(1),
    freeMemoryGB: +(freemem() / 1024 ** 3).toFixed(1),
    kernel: release(),
    node: process.version,
    duckdb: v,
    gitCommit: gitCommit(),
  };
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'cpp', 'pipeline'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  return r.stdout.trim() + (dirty.stdout.trim() ? ' (cpp/ or pipeline/ modified)' : '');
}

function fmt(n: number | null, digits = 0): string {
  if (n === null || !Number.isFinite(n)) return '–';
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export async function runBench(o: BenchOptions): Promise<number> {
  const cacheDir = join(REPO_ROOT, '.cache/pipeline-bench');
  mkdirSync(cacheDir, { recursive: true });
  mkdirSync(o.outDir, { recursive: true });
  // duckdb-sql (engine direct) is always measured next to the validated oracle.
  const modes = [...o.modes];
  if (!modes.includes('duckdb-sql')) modes.splice(modes.includes('duckdb') ? modes.indexOf('duckdb') + 1 : modes.length, 0, 'duckdb-sql');
  // The pass-through chain is measured next to the split, for the IPC share.
  if (modes.includes('split') && !modes.includes('split-passthrough')) modes.splice(modes.indexOf('split') + 1, 0, 'split-passthrough');
  const bin = modes.includes('monolith') ? buildMonolith() : null;
  let stack: SplitStack | undefined;
  if (modes.includes('split')) {
    await buildSplit();
    process.stderr.write('bench: starting a control server with the five split stages\n');
    stack = await SplitStack.start();
  }
  try {
    return await measure(o, modes, bin, stack, cacheDir);
  } finally {
    await stack?.stop();
  }
}

/**
 * The share of the split's CPU not spent on the stages' own work: 1 − Σ busy / Σ CPU over the five
 * processes (busy capped at each stage's CPU, since busy is wall time in its work sections and a
 * descheduled stage looks busy). What remains is encoding, decoding, transport and runtime
 * overhead around the messages. Median over the runs.
 */
function ipcShare(runs: RunRecord[]): number | null {
  const shares = runs
    .filter((r) => r.stages && r.stages.length > 0)
    .map((r) => {
      const cpu = r.stages!.reduce((a, st) => a + st.cpuSeconds, 0);
      const busy = r.stages!.reduce((a, st) => a + Math.min(st.busySeconds, st.cpuSeconds), 0);
      return cpu > 0 ? 1 - busy / cpu : NaN;
    })
    .filter((x) => Number.isFinite(x));
  return shares.length ? median(shares) : null;
}

async function measure(o: BenchOptions, modes: string[], bin: string | null, stack: SplitStack | undefined, cacheDir: string): Promise<number> {
  const mach = await machine();
  const loadBefore = loadavg().map((x) => +x.toFixed(2));
  const records: RunRecord[] = [];
  const inputs: { events: number; path: string; bytes: number }[] = [];
  const scratch = join(o.outDir, 'runs');

  for (const events of o.events) {
    const input = await ensureInput(o, events, cacheDir);
    const bytes = statSync(input).size;
    inputs.push({ events, path: input, bytes });
    for (let run = 1; run <= o.runs; run++) {
      // Interleave and rotate the order so no mode always runs first (cold cache) or last.
      const order = modes.map((_, i) => modes[(i + run - 1) % modes.length]);
      for (const mode of order) {
        const out = join(scratch, `${mode}-${events}-${run}`);
        rmSync(out, { recursive: true, force: true });
        mkdirSync(out, { recursive: true });
        let cmd: string;
        let args: string[];
        if (mode === 'monolith') {
          cmd = bin!;
          args = monolithArgv({ input, out, rules: o.rulesPath, threads: o.threads, batchSize: o.batchSize, partitions: o.partitions });
        } else if (mode === 'split' || mode === 'split-passthrough') {
          cmd = process.execPath;
          args = ['--import', 'tsx', CLI, 'run', '--mode', 'split', '--input', input, '--out', out, '--control-url', stack!.url];
          if (mode === 'split-passthrough') args.push('--passthrough');
          if (o.rulesPath) args.push('--rules', o.rulesPath);
          if (o.batchSize) args.push('--batch-size', String(o.batchSize));
          if (o.partitions) args.push('--partitions', String(o.partitions));
        } else {
          cmd = process.execPath;
          args = ['--import', 'tsx', CLI, 'run', '--mode', mode, '--input', input, '--out', out];
          if (o.rulesPath) args.push('--rules', o.rulesPath);
        }
        const r = await timedRun(cmd, args);
        let metrics: Record<string, unknown> = {};
        try { metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')); } catch { /* reported below */ }
        if (r.code !== 0) process.stderr.write(`bench: ${mode} run ${run} on ${events} events exited ${r.code}\n${r.stderr.slice(-2000)}\n`);
        const lat = metrics.batchLatencyMs as { p50: number; p95: number; p99: number } | undefined;
        const rec: RunRecord = {
          mode, events, run,
          processWallSeconds: r.seconds,
          engineWallSeconds: typeof metrics.wallSeconds === 'number' ? metrics.wallSeconds : null,
          peakRssBytes: Math.max(r.hwm, typeof metrics.peakRssBytes === 'number' ? metrics.peakRssBytes : 0),
          checksum: typeof metrics.checksum === 'string' ? metrics.checksum : '',
          batchLatencyMs: lat ? { p50: lat.p50, p95: lat.p95, p99: lat.p99 } : null,
          cpuSeconds: typeof metrics.cpuSeconds === 'number' ? metrics.cpuSeconds : null,
          stages: Array.isArray(metrics.stages) ? (metrics.stages as StageFigures[]) : null,
          exitCode: r.code,
        };
        records.push(rec);
        process.stderr.write(
          `bench: ${events} events, run ${run}/${o.runs}, ${mode}: ${r.seconds.toFixed(2)} s (engine ${rec.engineWallSeconds?.toFixed(2) ?? '?'} s), ` +
            `peak RSS ${(rec.peakRssBytes / 1e6).toFixed(0)} MB, checksum ${rec.checksum.slice(0, 12)}\n`,
        );
      }
    }
  }

  const loadAfter = loadavg().map((x) => +x.toFixed(2));
  const summaries: Summary[] = [];
  for (const { events, bytes } of inputs) {
    for (const mode of modes) {
      const rs = records.filter((r) => r.mode === mode && r.events === events && r.exitCode === 0);
      if (rs.length === 0) continue;
      const wall = median(rs.map((r) => r.processWallSeconds));
      const engineWalls = rs.map((r) => r.engineWallSeconds).filter((x): x is number => x !== null);
      const engine = engineWalls.length ? median(engineWalls) : null;
      const lats = rs.map((r) => r.batchLatencyMs).filter((x): x is NonNullable<typeof x> => x !== null);
      summaries.push({
        mode, label: LABELS[mode] ?? mode, events, bytes, runs: rs.length,
        processWallSeconds: wall,
        engineWallSeconds: engine,
        eventsPerSecond: events / wall,
        engineEventsPerSecond: engine ? events / engine : null,
        mbPerSecond: bytes / 1e6 / wall,
        p50Ms: lats.length ? median(lats.map((l) => l.p50)) : null,
        p95Ms: lats.length ? median(lats.map((l) => l.p95)) : null,
        p99Ms: lats.length ? median(lats.map((l) => l.p99)) : null,
        peakRssMB: Math.max(...rs.map((r) => r.peakRssBytes)) / 1e6,
        cpuSeconds: rs.every((r) => r.cpuSeconds !== null) ? median(rs.map((r) => r.cpuSeconds!)) : null,
        checksum: rs[0].checksum,
      });
    }
  }

  const problems: string[] = [];
  for (const { events } of inputs) {
    const rs = records.filter((r) => r.events === events);
    const failed = rs.filter((r) => r.exitCode !== 0);
    if (failed.length) problems.push(`${events} events: ${failed.length} run(s) failed (${[...new Set(failed.map((f) => f.mode))].join(', ')})`);
    const sums = new Set(rs.filter((r) => r.exitCode === 0 && r.mode !== 'split-passthrough').map((r) => r.checksum));
    if (sums.size > 1) problems.push(`${events} events: checksums differ: ${rs.map((r) => `${r.mode}#${r.run}=${r.checksum.slice(0, 12)}`).join(' ')}`);
  }

  const ratios = inputs.map(({ events }) => {
    const get = (m: string) => summaries.find((s) => s.mode === m && s.events === events);
    const mono = get('monolith');
    const sql = get('duckdb-sql');
    const oracle = get('duckdb');
    const r = (a?: Summary, b?: Summary, engine = false) =>
      a && b ? (engine ? (a.engineEventsPerSecond ?? NaN) / (b.engineEventsPerSecond ?? NaN) : a.eventsPerSecond / b.eventsPerSecond) : null;
    const split = get('split');
    const pass = get('split-passthrough');
    return {
      events,
      monolithVsDuckdbSql: r(mono, sql),
      monolithVsDuckdbSqlEngine: r(mono, sql, true),
      monolithVsDuckdbOracle: r(mono, oracle),
      splitVsMonolith: r(split, mono),
      splitVsMonolithEngine: r(split, mono, true),
      splitVsMonolithP99: split?.p99Ms != null && mono?.p99Ms != null ? split.p99Ms / mono.p99Ms : null,
      ipcCpuShare: ipcShare(records.filter((x) => x.mode === 'split' && x.events === events && x.exitCode === 0)),
      // The pass-through chain moves raw lines through every hop (the real chain moves columns
      // after parse), so this ratio is an upper bound on what the transport costs.
      passthroughCpuRatio: split?.cpuSeconds != null && pass?.cpuSeconds != null ? pass.cpuSeconds / split.cpuSeconds : null,
    };
  });
  // Per-stage figures of the split (median over its runs) for the largest input.
  const stageRows: string[] = [];
  for (const mode of ['split', 'split-passthrough']) {
    for (const { events } of inputs) {
      const rs = records.filter((r) => r.mode === mode && r.events === events && r.exitCode === 0 && r.stages);
      if (rs.length === 0) continue;
      for (const st of rs[0].stages!) {
        const all = rs.map((r) => r.stages!.find((x) => x.stage === st.stage)!).filter(Boolean);
        const m = (f: (x: StageFigures) => number) => median(all.map(f));
        stageRows.push(
          `| ${fmt(events)} | ${mode} | ${st.stage} (${st.language}) | ${fmt(m((x) => x.busySeconds), 2)} | ${fmt(m((x) => x.waitSeconds), 2)} | ` +
            `${fmt(m((x) => x.cpuSeconds), 2)} | ${fmt(Math.max(...all.map((x) => x.peakRssBytes)) / 1e6, 0)} |`,
        );
      }
    }
  }

  const table = [
    '| events | mode | runs | wall s (median) | events/s | MB/s | engine events/s | batch p50 ms | p95 ms | p99 ms | peak RSS MB | checksum |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|',
    ...summaries.map((s) =>
      `| ${fmt(s.events)} | ${s.label} | ${s.runs} | ${fmt(s.processWallSeconds, 2)} | ${fmt(s.eventsPerSecond)} | ${fmt(s.mbPerSecond, 1)} | ` +
        `${fmt(s.engineEventsPerSecond)} | ${fmt(s.p50Ms, 2)} | ${fmt(s.p95Ms, 2)} | ${fmt(s.p99Ms, 2)} | ${fmt(s.peakRssMB, 0)} | \`${s.checksum.slice(0, 12)}\` |`,
    ),
  ].join('\n');
  const ratioLines = ratios.flatMap((r) => [
    ...(r.monolithVsDuckdbSql !== null
      ? [`- ${fmt(r.events)} events: monolith / duckdb-sql = **${fmt(r.monolithVsDuckdbSql, 2)}×** (process wall time; ` +
          `${fmt(r.monolithVsDuckdbSqlEngine, 2)}× on engine-reported time), monolith / duckdb oracle = ${fmt(r.monolithVsDuckdbOracle, 2)}×`]
      : []),
    ...(r.splitVsMonolith !== null
      ? [`- ${fmt(r.events)} events: split / monolith throughput = **${fmt(r.splitVsMonolith, 2)}×** (${fmt(r.splitVsMonolithEngine, 2)}× on engine-reported time; floor 0.5×, goal 0.8×), ` +
          `split / monolith p99 batch latency = **${fmt(r.splitVsMonolithP99, 2)}×** (≤ 2×), CPU share spent on IPC = **${fmt(r.ipcCpuShare === null ? null : r.ipcCpuShare * 100, 1)} %** (≤ 30 %, goal ≤ 15 %; ` +
          `pass-through chain CPU / split CPU = ${fmt(r.passthroughCpuRatio, 2)}×)`]
      : []),
  ]);
  const md = [
    '# Pipeline benchmark',
    '',
    `${new Date().toISOString()} · ${mach.cores} cores (${mach.cpuModel}), ${mach.memoryGB} GB RAM, Linux ${mach.kernel}, Node ${mach.node}, DuckDB ${mach.duckdb}, commit ${mach.gitCommit}`,
    '',
    `Load average (1/5/15 min) at start ${loadBefore.join(' / ')}, at end ${loadAfter.join(' / ')} — other processes on the box add noise.`,
    '',
    `Input: generated with seed ${o.seed}, ${o.users} users, event times over ${o.days} days, ${o.distribution} distribution, no invalid lines (so the plain-SQL baseline can read the same file). ` +
      `Rules: ${o.rulesPath ?? 'default (§4.3)'}. ${o.runs} run(s) per mode, interleaved; medians shown.`,
    '',
    table,
    '',
    '## Throughput ratio (same run, same file)',
    '',
    ...ratioLines,
    '',
    ...(stageRows.length
      ? ['## Split stages (median over runs)', '', '| events | mode | stage | busy s | waiting on IPC s | CPU s | peak RSS MB |', '|---:|---|---|---:|---:|---:|---:|', ...stageRows, '']
      : []),
    '## How it is measured',
    '',
    '- Every run is a separate child process. "wall s" is the process wall time measured by the bench (spawn → exit), so it includes',
    '  process start-up (for the DuckDB modes: Node, tsx and loading DuckDB). "engine events/s" uses the wallSeconds each engine reports in its metrics.json.',
    '- events/s and MB/s are computed from the process wall time and the input file size.',
    '- duckdb (validated, oracle): the strict TypeScript §4.2 validator reads every line, then DuckDB SQL applies rules and aggregates.',
    '- duckdb-sql: `read_ndjson` with explicit columns and the same SQL, no validation (valid-only input); it produces the same results.json.',
    '- Batch latency percentiles come from each engine\'s metrics.json (`batchLatencyMs`): for the monolith a batch\'s time from read to aggregated; for the split a batch\'s time from ingest sending it to the sink receiving it folded.',
    '- split: the five stages run under one headless control server for the whole benchmark (started once, like `npm start` does); each run is `pipeline run --mode split --control-url …`. ' +
      'Its peak RSS is the sum of the five processes\' high-water marks; its CPU seconds are summed over the five processes during the run.',
    '- IPC share: 1 − (Σ busy ÷ Σ CPU) over the five stage processes of the real split run, where busy is the time each stage spends in its own work (capped at its CPU time): the rest is serialisation, transport and runtime overhead around the messages. ' +
      'Next to it, the CPU of the pass-through chain (every stage forwards batches unchanged, the sink writes nothing) over the CPU of the real run — an upper bound, since pass-through carries raw lines through all four hops where the real chain carries compact columns after parse.',
    '- Peak RSS: highest VmHWM seen while polling /proc/<pid>/status every 10 ms, or the value the process reports itself, whichever is higher.',
    '',
    problems.length ? `## Problems\n\n${problems.map((p) => `- ${p}`).join('\n')}\n` : 'All checksums agree across modes and runs.\n',
  ].join('\n');

  writeFileSync(join(o.outDir, 'bench.md'), md);
  writeFileSync(
    join(o.outDir, 'bench.json'),
    JSON.stringify({ date: new Date().toISOString(), machine: mach, loadAverage: { before: loadBefore, after: loadAfter }, options: { ...o, modes }, inputs, summaries, ratios, runs: records, checksumsAgree: problems.length === 0, problems }, null, 2) + '\n',
  );
  process.stdout.write(`${table}\n\n${ratioLines.join('\n')}\n\n`);
  process.stderr.write(`bench: wrote ${join(o.outDir, 'bench.md')} and bench.json\n`);
  if (problems.length) {
    process.stderr.write(`bench: PROBLEMS:\n${problems.join('\n')}\n`);
    return 1;
  }
  return 0;
}
