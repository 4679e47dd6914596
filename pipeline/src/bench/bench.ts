// `pipeline bench`: generates inputs once (cached), runs every mode as a child process — warm-up
// runs first, then the counted runs interleaved and rotated — and optionally a partitions sweep;
// measures wall time, throughput, batch latency (from each engine's metrics.json), CPU and peak
// RSS per process (from /proc), checks that all checksums agree, and writes bench.md and
// bench.json plus an entry in the benchmark history. With `split`, the five stages of a running
// control server are used (else a headless one is started for the whole benchmark), and a
// pass-through run of the same chain measures what the IPC alone costs.
//
// The dashboard's BenchmarkService runs exactly this (as a child process, `--progress-fd 3`), so
// the UI and the CLI produce their figures and reports through one code path.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, freemem, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { loadDuckdb } from '../duckdb.js';
import type { Distribution } from '../generate/generator.js';
import { cachedInput } from '../generate/cache.js';
import { buildMonolith, monolithArgv, REPO_ROOT } from '../engines/monolith-runner.js';
import { buildSplit, DEFAULT_CONTROL_URL, SplitError, SplitStack, stageAddresses, stageInstances, STAGES } from '../engines/split-runner.js';
import { BenchHistory, entryFromReport, newRunId, type HistoryEntry, type HistoryStatus } from './history.js';
import { CLI_BUNDLE_SCRIPT, PIPELINE_BUNDLE, PIPELINE_CLI } from './paths.js';
import { children, cpuSeconds, inputOffset, peakRss, resetPeakRss } from './probe.js';
import { buildReport, fmt, ratioLines, renderMarkdown, summaryTable } from './report.js';
import type { BenchReport, BenchReportOptions, MachineInfo, ProcessFigures, RunRecord, StageFigures } from './report-types.js';

export interface BenchOptions extends BenchReportOptions {
  distribution: Distribution;
  outDir: string;
  /** Run id (default: a new one). */
  id?: string;
  origin: 'cli' | 'dashboard';
  historyDir: string;
  /** A control server whose split stages to use; when absent, the default one if it runs them. */
  controlUrl?: string;
  /** File descriptor for progress as NDJSON lines (the BenchmarkService reads them). */
  progressFd?: number;
  /** Leave out the split's pass-through chain. */
  skipPassthrough?: boolean;
}

const SCALING_MODES = ['monolith', 'split'];
/** Progress lines at most this often (ms). */
const TICK_MS = 250;

export class BenchCancelled extends Error {
  constructor() {
    super('benchmark cancelled');
  }
}

/** One process run to do. */
interface Step {
  mode: string;
  events: number;
  /** 1-based index among the counted runs (or among the warm-ups, for a warm-up). */
  run: number;
  warmup: boolean;
  partitions: number | null;
}

/** Progress as NDJSON on a descriptor (no-op without one). Writes are synchronous and small. */
class Progress {
  constructor(private readonly fd: number | undefined) {}

  emit(msg: Record<string, unknown>): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, JSON.stringify(msg) + '\n');
    } catch {
      // The reader went away; the benchmark itself goes on (and is cancelled by a signal if meant).
    }
  }
}

/** The steps in order: per size, warm-ups then counted runs, modes rotated; then the sweep. */
export function planSteps(o: Pick<BenchOptions, 'events' | 'runs' | 'warmup' | 'scalingPartitions'>, modes: string[]): Step[] {
  const steps: Step[] = [];
  // The pass-through chain runs last, after everything else: it goes through the same stage
  // processes as the split, and the memory its raw lines took stays with them (allocators keep
  // it), which the split's peak RSS would show in every split run after it.
  const compared = modes.filter((m) => m !== 'split-passthrough');
  const rotated = (i: number) => compared.map((_, k) => compared[(k + i) % compared.length]!);
  for (const events of o.events) {
    for (let w = 0; w < o.warmup; w++) for (const mode of rotated(w)) steps.push({ mode, events, run: w + 1, warmup: true, partitions: null });
    // Interleave and rotate the order so no mode always runs first (cold cache) or last.
    for (let run = 1; run <= o.runs; run++) for (const mode of rotated(run - 1)) steps.push({ mode, events, run, warmup: false, partitions: null });
  }
  const sweepModes = SCALING_MODES.filter((m) => modes.includes(m));
  for (const partitions of o.scalingPartitions) {
    for (let run = 1; run <= o.runs; run++) {
      for (const mode of sweepModes) steps.push({ mode, events: o.events[0]!, run, warmup: false, partitions });
    }
  }
  if (modes.includes('split-passthrough')) {
    for (const events of o.events) {
      for (let w = 0; w < o.warmup; w++) steps.push({ mode: 'split-passthrough', events, run: w + 1, warmup: true, partitions: null });
      for (let run = 1; run <= o.runs; run++) steps.push({ mode: 'split-passthrough', events, run, warmup: false, partitions: null });
    }
  }
  return steps;
}

async function ensureInput(o: BenchOptions, events: number, progress: Progress, signal: AbortSignal): Promise<string> {
  const message = `generating ${events.toLocaleString('en-US')} events`;
  const t0 = Date.now();
  let last = 0;
  const { path, generated } = await cachedInput(
    { events, seed: o.seed, users: o.users, days: o.days, distribution: o.distribution },
    {
      onGenerate: (path) => {
        process.stderr.write(`bench: ${message} → ${path}\n`);
        progress.emit({ t: 'phase', phase: 'generating', events, message });
      },
      onProgress: (n) => {
        if (signal.aborted) throw new BenchCancelled();
        if (Date.now() - last < TICK_MS) return;
        last = Date.now();
        progress.emit({ t: 'phase', phase: 'generating', events, eventsDone: n, message });
      },
    },
  );
  process.stderr.write(generated ? `bench: generated in ${((Date.now() - t0) / 1000).toFixed(1)} s\n` : `bench: using cached input ${path}\n`);
  return path;
}

async function machine(): Promise<MachineInfo> {
  const inst = await (await loadDuckdb()).DuckDBInstance.create(':memory:');
  const conn = await inst.connect();
  const v = String((await conn.runAndReadAll('SELECT version()')).getRows()[0]![0]);
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
    toolchains: toolchains(),
    gitCommit: gitCommit(),
  };
}

function toolchains(): Record<string, string> {
  const venvPython = join(REPO_ROOT, 'services/rules/.venv/bin/python');
  const tools: [string, string, string[]][] = [
    ['g++', 'g++', ['--version']],
    ['rustc', 'rustc', ['--version']],
    ['go', 'go', ['version']],
    ['python', existsSync(venvPython) ? venvPython : 'python3', ['--version']],
  ];
  const out: Record<string, string> = {};
  for (const [name, cmd, args] of tools) {
    const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 10_000 });
    out[name] = r.status === 0 ? (r.stdout || r.stderr).split('\n')[0]!.trim() : 'not found';
  }
  return out;
}

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' });
  const dirty = spawnSync('git', ['status', '--porcelain', '--', 'cpp', 'pipeline', 'services'], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status !== 0) return 'unknown';
  return r.stdout.trim() + (dirty.stdout.trim() ? ' (cpp/, pipeline/ or services/ modified)' : '');
}

interface Watched {
  code: number;
  seconds: number;
  hwm: number;
  cpu: number | null;
  stderr: string;
}

/**
 * Spawns a child and watches it until it exits: its peak RSS and CPU every 10 ms, and every
 * 250 ms how far the reader of `input` has got, reported through `onTick`: the latest
 * `{"bytesRead":…}` line the child printed on stdout (a split run reports ingest's position, which
 * survives a restarted ingest and rewinds after a recovery), else the file position of the child,
 * its children or `readers`. The abort signal kills it.
 */
function watchedRun(
  cmd: string,
  args: string[],
  input: { path: string; bytes: number },
  readers: number[],
  signal: AbortSignal,
  onTick: (bytesDone: number | null, seconds: number) => void,
): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child: ChildProcess = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let reported: number | null = null;
    let partial = '';
    child.stdout!.on('data', (d: Buffer) => {
      const lines = (partial + d.toString()).split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          const p = JSON.parse(line) as { bytesRead?: number };
          if (typeof p.bytesRead === 'number') reported = p.bytesRead;
        } catch {
          // not a progress line
        }
      }
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      if (stderr.length > 20000) stderr = stderr.slice(-10000);
    });
    let hwm = 0;
    let cpu: number | null = null;
    let lastTick = 0;
    const poll = setInterval(() => {
      const pid = child.pid;
      if (!pid) return;
      hwm = Math.max(hwm, peakRss(pid));
      cpu = cpuSeconds(pid) ?? cpu;
      const now = Date.now();
      if (now - lastTick >= TICK_MS) {
        lastTick = now;
        onTick(reported ?? inputOffset([pid, ...children(pid), ...readers], input.path), Number(process.hrtime.bigint() - t0) / 1e9);
      }
    }, 10);
    const kill = () => child.kill('SIGTERM');
    signal.addEventListener('abort', kill, { once: true });
    child.on('error', (e) => {
      clearInterval(poll);
      signal.removeEventListener('abort', kill);
      reject(e);
    });
    child.on('exit', (code, sig) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      clearInterval(poll);
      signal.removeEventListener('abort', kill);
      resolve({ code: code ?? (sig ? 128 + 15 : 1), seconds, hwm, cpu, stderr });
    });
  });
}

/** Where the split stages are: a running control server's, or a headless one started now. */
async function splitStages(o: BenchOptions): Promise<{ url: string; stack?: SplitStack }> {
  const url = o.controlUrl ?? process.env.MR_CONTROL_HTTP_URL ?? DEFAULT_CONTROL_URL;
  let found: Map<string, string> | undefined;
  try {
    found = await stageAddresses(url, 1000);
  } catch {
    found = undefined;
  }
  if (found && found.size === STAGES.length) {
    process.stderr.write(`bench: using the split stages of the control server at ${url}\n`);
    return { url };
  }
  if (o.controlUrl !== undefined) {
    const missing = found ? STAGES.filter((s) => !found!.has(s)).join(', ') : 'all (no control server answers there)';
    throw new SplitError(`--control-url ${url}: split stages missing: ${missing}`, 2);
  }
  await buildSplit();
  process.stderr.write('bench: starting a control server with the five split stages\n');
  const stack = await SplitStack.start();
  return { url: stack.url, stack };
}

export async function runBench(o: BenchOptions): Promise<number> {
  const id = o.id ?? newRunId();
  const history = new BenchHistory(o.historyDir);
  const progress = new Progress(o.progressFd);
  const startedAt = new Date();
  const abort = new AbortController();
  const onSignal = (sig: string) => {
    if (abort.signal.aborted) return;
    process.stderr.write(`bench: ${sig}, cancelling\n`);
    abort.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  // duckdb-sql (engine direct) is always measured next to the validated oracle.
  const modes = [...o.modes];
  if (modes.includes('duckdb') && !modes.includes('duckdb-sql')) modes.splice(modes.indexOf('duckdb') + 1, 0, 'duckdb-sql');
  // The pass-through chain is measured next to the split, for the IPC share.
  if (modes.includes('split') && !modes.includes('split-passthrough') && !o.skipPassthrough) modes.splice(modes.indexOf('split') + 1, 0, 'split-passthrough');
  const steps = planSteps(o, modes);
  progress.emit({ t: 'start', id, stepsTotal: steps.length, modes, events: o.events });

  let stack: SplitStack | undefined;
  const ended = (status: HistoryStatus, error: string): HistoryEntry => ({
    id, status, origin: o.origin, startedAtMs: startedAt.getTime(), finishedAtMs: Date.now(), modes, events: o.events,
    checksumsAgree: false, splitVsMonolith: null, monolithVsDuckdbSql: null, error,
  });
  try {
    progress.emit({ t: 'phase', phase: 'preparing', message: 'building the engines' });
    const bin = modes.includes('monolith') ? buildMonolith() : null;
    const cli = cliCommand();
    let controlUrl: string | undefined;
    if (modes.includes('split')) {
      const found = await splitStages(o);
      controlUrl = found.url;
      stack = found.stack;
    }
    if (abort.signal.aborted) throw new BenchCancelled();
    const report = await measure(o, id, startedAt, modes, steps, bin, cli, controlUrl, progress, abort.signal);
    progress.emit({ t: 'phase', phase: 'reporting', message: 'writing the report' });
    const md = renderMarkdown(report);
    mkdirSync(o.outDir, { recursive: true });
    writeFileSync(join(o.outDir, 'bench.md'), md);
    writeFileSync(join(o.outDir, 'bench.json'), JSON.stringify(report, null, 2) + '\n');
    history.save(entryFromReport(report, md));
    process.stdout.write(`${summaryTable(report)}\n\n${ratioLines(report).join('\n')}\n\n`);
    process.stderr.write(`bench: wrote ${join(o.outDir, 'bench.md')} and bench.json (run ${id})\n`);
    progress.emit({ t: 'done', id, status: report.checksumsAgree ? 'passed' : 'problems' });
    if (report.problems.length) {
      process.stderr.write(`bench: PROBLEMS:\n${report.problems.join('\n')}\n`);
      return 1;
    }
    return 0;
  } catch (e) {
    if (abort.signal.aborted || e instanceof BenchCancelled) {
      history.save(ended('cancelled', 'cancelled before it finished'));
      progress.emit({ t: 'done', id, status: 'cancelled', error: 'cancelled before it finished' });
      process.stderr.write(`bench: cancelled (run ${id})\n`);
      return 130;
    }
    const message = e instanceof Error ? e.message : String(e);
    history.save(ended('failed', message));
    progress.emit({ t: 'done', id, status: 'failed', error: message });
    throw e;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await stack?.stop();
  }
}

/**
 * How each measured run starts the CLI: the esbuild bundle (scripts/build.d/cli.sh, rebuilt here
 * when a source is newer), which starts in about half the CPU time tsx needs to load and
 * transpile the sources; tsx when bundling fails.
 */
function cliCommand(): string[] {
  const r = spawnSync('bash', [CLI_BUNDLE_SCRIPT], { cwd: REPO_ROOT, encoding: 'utf8' });
  if (r.status === 0 && existsSync(PIPELINE_BUNDLE)) return [PIPELINE_BUNDLE];
  process.stderr.write(`bench: could not bundle the CLI (${(r.stderr || r.error?.message || '').trim()}); runs start it with tsx\n`);
  return ['--import', 'tsx', PIPELINE_CLI];
}

function stepArgs(o: BenchOptions, step: Step, input: string, out: string, bin: string | null, cli: string[], controlUrl: string | undefined): { cmd: string; args: string[] } {
  const partitions = step.partitions ?? o.partitions;
  const { mode } = step;
  if (mode === 'monolith') {
    return { cmd: bin!, args: monolithArgv({ input, out, rules: o.rulesPath, threads: o.threads, batchSize: o.batchSize, partitions }) };
  }
  const args = [...cli, 'run', '--mode', mode === 'split-passthrough' ? 'split' : mode, '--input', input, '--out', out];
  if (o.rulesPath) args.push('--rules', o.rulesPath);
  if (mode === 'split' || mode === 'split-passthrough') {
    args.push('--control-url', controlUrl!, '--progress-json');
    if (mode === 'split-passthrough') args.push('--passthrough');
    if (o.inlineLines) args.push('--inline-lines');
    if (o.batchSize) args.push('--batch-size', String(o.batchSize));
    if (partitions) args.push('--partitions', String(partitions));
  }
  return { cmd: process.execPath, args };
}

const LANGUAGE: Record<string, string> = { monolith: 'c++', duckdb: 'typescript + duckdb', 'duckdb-sql': 'typescript + duckdb' };

async function measure(
  o: BenchOptions,
  id: string,
  startedAt: Date,
  modes: string[],
  steps: Step[],
  bin: string | null,
  cli: string[],
  controlUrl: string | undefined,
  progress: Progress,
  signal: AbortSignal,
): Promise<BenchReport> {
  const mach = await machine();
  const loadBefore = loadavg().map((x) => +x.toFixed(2));
  const records: RunRecord[] = [];
  const inputs: { events: number; path: string; bytes: number }[] = [];
  for (const events of o.events) {
    const path = await ensureInput(o, events, progress, signal);
    inputs.push({ events, path, bytes: statSync(path).size });
  }
  const scratch = join(o.outDir, 'runs');
  for (const [i, step] of steps.entries()) {
    if (signal.aborted) throw new BenchCancelled();
    const input = inputs.find((x) => x.events === step.events)!;
    const tag = `${step.mode}-${step.events}-${step.warmup ? 'warmup' : 'run'}${step.run}${step.partitions !== null ? `-p${step.partitions}` : ''}`;
    const out = join(scratch, tag);
    rmSync(out, { recursive: true, force: true });
    mkdirSync(out, { recursive: true });
    const { cmd, args } = stepArgs(o, step, input.path, out, bin, cli, controlUrl);
    const split = step.mode === 'split' || step.mode === 'split-passthrough';
    // The split's reader is its ingest stage, a process of the control server.
    const readers = split ? [...(await stageInstances(controlUrl!)).values()].filter((s) => s.pid > 0).map((s) => s.pid) : [];
    // The stages outlive a run: their VmHWM would be the highest of every run so far (a
    // pass-through run, a bigger input). Reset now, it is this run's peak when read after it.
    const hwmReset = new Set(readers.filter((pid) => resetPeakRss(pid)));
    const phase = step.partitions !== null ? 'scaling' : step.warmup ? 'warmup' : 'measuring';
    const runCount = step.partitions !== null || !step.warmup ? o.runs : o.warmup;
    const where = { t: 'tick', phase, mode: step.mode, events: step.events, runIndex: step.run, runCount, partitions: step.partitions ?? 0, stepsDone: i, stepsTotal: steps.length };
    progress.emit({ ...where, eventsDone: 0, eventsPerSecond: 0, runSeconds: 0 });
    let prev = { done: 0, at: 0 };
    let lastLog = 0;
    const r = await watchedRun(cmd, args, input, readers, signal, (bytes, seconds) => {
      // A reader that closed the file (done reading) keeps its last figure; DuckDB's own reads
      // (pread) do not move a file position, so duckdb-sql shows none.
      const done = bytes === null ? null : Math.max(prev.done, Math.round(Math.min(1, bytes / Math.max(1, input.bytes)) * step.events));
      const rate = done === null || seconds <= prev.at ? 0 : (done - prev.done) / (seconds - prev.at);
      if (done !== null) prev = { done, at: seconds };
      progress.emit({ ...where, eventsDone: prev.done, eventsPerSecond: rate, runSeconds: seconds });
      if (seconds - lastLog >= 5) {
        lastLog = seconds;
        const read = prev.done > 0 ? `${fmt(prev.done)} of ${fmt(step.events)} events read` : 'running (its reads show no file position)';
        process.stderr.write(`bench: ${tag}: ${read} after ${seconds.toFixed(0)} s\n`);
      }
    });
    if (signal.aborted) throw new BenchCancelled();
    let metrics: Record<string, unknown> = {};
    try {
      metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    } catch {
      // reported below through the exit code / missing checksum
    }
    if (r.code !== 0) process.stderr.write(`bench: ${tag} exited ${r.code}\n${r.stderr.slice(-2000)}\n`);
    const reported = Array.isArray(metrics.stages) ? (metrics.stages as (StageFigures & { pid?: number })[]) : null;
    // A stage's peak RSS over this run: its VmHWM since the reset when the reset took (the
    // process may report a lifetime peak), else what it reports.
    const stages = reported?.map(({ pid, ...s }): StageFigures => {
      const hwm = pid !== undefined && hwmReset.has(pid) ? peakRss(pid) : 0;
      return hwm > 0 ? { ...s, peakRssBytes: hwm } : s;
    }) ?? null;
    const self: ProcessFigures = split
      ? { name: 'pipeline run (client)', language: 'typescript', cpuSeconds: r.cpu, peakRssBytes: r.hwm }
      : { name: step.mode === 'monolith' ? 'monolith' : `pipeline run --mode ${step.mode}`, language: LANGUAGE[step.mode] ?? '', cpuSeconds: r.cpu, peakRssBytes: r.hwm };
    const lat = metrics.batchLatencyMs as { p50: number; p95: number; p99: number } | undefined;
    const rec: RunRecord = {
      mode: step.mode,
      events: step.events,
      run: step.warmup ? 0 : step.run,
      warmup: step.warmup,
      partitions: step.partitions,
      batchSize: typeof metrics.batchSize === 'number' ? metrics.batchSize : null,
      processWallSeconds: r.seconds,
      engineWallSeconds: typeof metrics.wallSeconds === 'number' ? metrics.wallSeconds : null,
      peakRssBytes: split && stages?.length ? stages.reduce((a, st) => a + st.peakRssBytes, 0) : split && typeof metrics.peakRssBytes === 'number' ? metrics.peakRssBytes : r.hwm,
      checksum: typeof metrics.checksum === 'string' ? metrics.checksum : '',
      batchLatencyMs: lat ? { p50: lat.p50, p95: lat.p95, p99: lat.p99 } : null,
      // The split's CPU is its five stages' (the client only starts the run; it is listed apart).
      cpuSeconds: split ? (typeof metrics.cpuSeconds === 'number' ? metrics.cpuSeconds : null) : r.cpu,
      processes: [
        ...(stages ?? []).map((s) => ({ name: s.stage, language: s.language, cpuSeconds: s.cpuSeconds, peakRssBytes: s.peakRssBytes })),
        self,
      ],
      stages: stages?.map((s) => ({ stage: s.stage, language: s.language, busySeconds: s.busySeconds, waitSeconds: s.waitSeconds, cpuSeconds: s.cpuSeconds, peakRssBytes: s.peakRssBytes })) ?? null,
      exitCode: r.code,
    };
    records.push(rec);
    progress.emit({
      t: 'completed', mode: step.mode, events: step.events, runIndex: step.run, warmup: step.warmup, partitions: step.partitions ?? 0,
      wallSeconds: r.seconds, eventsPerSecond: step.events / r.seconds, checksum: rec.checksum, exitCode: r.code, stepsDone: i + 1, stepsTotal: steps.length,
    });
    process.stderr.write(
      `bench: ${tag}: ${r.seconds.toFixed(2)} s (engine ${rec.engineWallSeconds?.toFixed(2) ?? '?'} s), ` +
        `peak RSS ${(rec.peakRssBytes / 1e6).toFixed(0)} MB, checksum ${rec.checksum.slice(0, 12) || '(none)'}\n`,
    );
  }
  return buildReport({
    id,
    origin: o.origin,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: mach,
    loadAverage: { before: loadBefore, after: loadavg().map((x) => +x.toFixed(2)) },
    options: {
      modes, events: o.events, runs: o.runs, warmup: o.warmup, seed: o.seed, users: o.users, days: o.days, distribution: o.distribution,
      rulesPath: o.rulesPath, threads: o.threads, batchSize: o.batchSize, partitions: o.partitions, scalingPartitions: o.scalingPartitions, inlineLines: o.inlineLines,
    },
    inputs,
    runs: records,
  });
}
