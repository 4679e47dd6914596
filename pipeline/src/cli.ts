// The pipeline CLI. Run from the repo root: `pnpm pipeline --help`, e.g.
//   pnpm pipeline generate --events 1000000 --seed 7 --out /tmp/events.ndjson
//   pnpm pipeline run --mode duckdb --input /tmp/events.ndjson --out /tmp/out
//   pnpm pipeline bench --modes duckdb,monolith --events 1000000 --runs 3
// Relative paths resolve against the current directory. Exit codes: 0 ok, 1 unexpected failure,
// 2 bad arguments, bad rules file or unreadable input (or the child's own exit code).
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { intList, intOption, parseOptions, required, UsageError } from './args.js';
import { DEFAULT_DAYS, DEFAULT_TYPES, generate, type Distribution } from './generate/generator.js';
import { loadRules, RulesError } from './rules.js';
import { DEFAULT_HISTORY_DIR } from './bench/paths.js';
import { isRunId } from './bench/history.js';
// The engines, the benchmark and chaos are imported when a command needs them: a run of one
// engine does not load the others (DuckDB alone takes a few hundred ms to load), and the
// benchmark starts this CLI for every run it measures.

const USAGE = `pipeline — event generator, engines and benchmarks (see ../shared/DESIGN.md §4.2–4.5)

Usage:
  pnpm pipeline generate --events N --seed S --out FILE [--users U] [--days D]
        [--distribution uniform|zipf|burst] [--invalid-ratio R] [--types a,b,c]
      Writes N non-blank NDJSON lines, reproducibly (same arguments, same bytes).
      --invalid-ratio R (0..1, default 0) mixes in every kind of invalid line, plus tricky valid
      lines, blank lines and CRLF endings. Defaults: --users 10000, --distribution uniform,
      --days 7 (event times spread over that many days from 2026-01-01).

  pnpm pipeline run --mode duckdb|duckdb-sql|monolith|split --input FILE --out DIR
        [--rules FILE] [--batch-size B] [--partitions P] [--threads N] [--control-url URL]
        [--window W] [--passthrough] [--inline-lines] [--no-checkpoint] [--progress-json] [--no-build]
      Writes DIR/results.json, DIR/dead-letters.ndjson and DIR/metrics.json.
      duckdb      reference engine / test oracle (strict validator + DuckDB SQL)
      duckdb-sql  plain DuckDB SQL with read_ndjson, no validation (valid-only input)
      monolith    the C++ binary (built with cpp/scripts/build.sh release unless --no-build)
      split       the chain ingest (TS) → parse (Rust) → rules (Python) → aggregate (Go) → sink (TS):
                  uses the stages of the control server at --control-url (default
                  http://127.0.0.1:3000, i.e. \`npm start\`) when it runs them, else builds them and
                  starts its own control server for the run. --window W batches in flight from ingest to
                  parse (default 3; the later hops keep 8); --passthrough forwards batches without work (measures IPC alone).
                  Ingest hands parse the line data through shared memory (/dev/shm) and the rest over
                  the stream; --inline-lines sends the line data in the stream's messages too.
                  The run is checkpointed (every 500 ms), so it survives a kill -9 of any stage
                  with identical results; --no-checkpoint turns that off (to measure its cost).
                  --progress-json prints ingest's progress as JSON lines on stdout.

  pnpm pipeline bench [--modes duckdb,monolith,split] [--events 1000000,10000000] [--runs 3]
        [--warmup 1] [--scaling 1,2,4,8] [--seed S] [--users U] [--days D] [--distribution D]
        [--rules FILE] [--out-dir reports/bench] [--threads N] [--batch-size B] [--partitions P]
        [--control-url URL] [--history-dir DIR] [--no-passthrough] [--inline-lines]
      Generates inputs once (cached in .cache/pipeline-bench), runs --warmup uncounted runs and
      --runs counted runs per mode and size, interleaved and rotated; reports medians with
      min–max, batch-latency percentiles, CPU and peak RSS per process, the split's IPC share
      per stage; checks that checksums agree and writes bench.md and bench.json, and keeps the
      report in the history the dashboard lists (.runtime/bench/history unless --history-dir).
      duckdb-sql is always measured alongside duckdb, and the split's pass-through chain (IPC
      cost) alongside split (unless --no-passthrough). --scaling P1,P2,… adds a sweep over the monolith's and the split
      aggregate's partitions on the first size. The split uses the stages of the control server
      at --control-url (default http://127.0.0.1:3000 when it runs them), else starts its own.
      --inline-lines runs the split with its line data in the stream's messages (see run).
      Exit code 1 when a run failed or checksums differ, 130 when cancelled (SIGINT/SIGTERM).

  pnpm pipeline chaos [--events 1000000] [--kills-per-stage 20] [--stages ingest,parse,…]
        [--every 2] [--every-events 10000000] [--monolith-kills 3] [--checkpoint-interval 500]
        [--seed S] [--rules FILE] [--out-dir reports/chaos] [--control-url URL]
      Runs the split pipeline once per kill and kill -9s one stage (ChaosService CRASH) at a
      random moment of each run, --kills-per-stage times per stage; then one run of
      --every-events events with a kill of a random stage every --every seconds (0: skip), and
      kills the monolith --monolith-kills times for contrast. Every run is checked against the
      monolith's results (checksum, lost and duplicated events). Reports recovery per stage
      (kill → throughput back to ≥ 90 %) as p50/p95/max in reports/chaos/<time>/chaos.md and
      chaos.json. Input: generated with 1 % invalid lines (cached). Exit code 1 when any run
      failed or differed.

  pnpm pipeline --help`;

function die(code: number, msg: string): never {
  process.stderr.write(`pipeline: ${msg}\n`);
  process.exit(code);
}

const DISTRIBUTIONS: Distribution[] = ['uniform', 'zipf', 'burst'];

/** mkdir -p without Node's recursive mkdir (which can spin forever on paths like /proc/x). */
function ensureDir(path: string, option: string): void {
  let st;
  try {
    st = statSync(path);
  } catch {
    const parent = dirname(path);
    if (parent !== path) ensureDir(parent, option);
    try {
      mkdirSync(path);
    } catch (e) {
      die(2, `cannot create ${option} directory ${path}: ${(e as Error).message}`);
    }
    return;
  }
  if (!st.isDirectory()) die(2, `${option} ${path} exists and is not a directory`);
}

async function cmdGenerate(argv: string[]): Promise<void> {
  const cmd = 'generate';
  const o = parseOptions(argv, { events: 'string', seed: 'string', users: 'string', days: 'string', distribution: 'string', 'invalid-ratio': 'string', types: 'string', out: 'string', help: 'flag' }, cmd);
  if (o.has('help')) { console.log(USAGE); return; }
  const events = intOption(o, 'events', cmd, { min: 0 });
  if (events === undefined) throw new UsageError(`${cmd}: missing required option --events`);
  const seed = intOption(o, 'seed', cmd, { min: 0 });
  if (seed === undefined) throw new UsageError(`${cmd}: missing required option --seed`);
  const users = intOption(o, 'users', cmd, { min: 1, max: 10_000_000, fallback: 10_000 })!;
  const days = intOption(o, 'days', cmd, { min: 1, max: 365, fallback: DEFAULT_DAYS })!;
  const distribution = (o.get('distribution') ?? 'uniform') as Distribution;
  if (!DISTRIBUTIONS.includes(distribution)) throw new UsageError(`${cmd}: unknown --distribution ${JSON.stringify(distribution)} (expected uniform, zipf or burst)`);
  const ratioText = o.get('invalid-ratio') ?? '0';
  const invalidRatio = Number(ratioText);
  if (ratioText.trim() === '' || !Number.isFinite(invalidRatio) || invalidRatio < 0 || invalidRatio > 1) {
    throw new UsageError(`${cmd}: --invalid-ratio must be a number between 0 and 1, got ${JSON.stringify(ratioText)}`);
  }
  let types = DEFAULT_TYPES;
  if (o.has('types')) {
    types = o.get('types')!.split(',');
    for (const t of types) {
      if (!/^[A-Za-z0-9_.-]+$/.test(t)) throw new UsageError(`${cmd}: --types entries must match [A-Za-z0-9_.-]+, got ${JSON.stringify(t)}`);
    }
  }
  const out = resolve(required(o, 'out', cmd));
  ensureDir(dirname(out), '--out');
  const t0 = process.hrtime.bigint();
  let lastReport = 0;
  const showProgress = events >= 2_000_000;
  const stats = await generate({
    events, seed, users, days, distribution, invalidRatio, types, out,
    onProgress: showProgress
      ? (n) => {
          if (n - lastReport >= 1_000_000) {
            lastReport = n;
            process.stderr.write(`generate: ${n.toLocaleString('en-US')} / ${events.toLocaleString('en-US')} lines (${((n / events) * 100).toFixed(0)}%)\n`);
          }
        }
      : undefined,
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  process.stderr.write(
    `generate: wrote ${stats.lines} lines (${stats.invalid} invalid, ${stats.tricky} tricky), ${(stats.bytes / 1e6).toFixed(1)} MB to ${out} ` +
      `in ${secs.toFixed(2)} s (${Math.round(stats.lines / Math.max(secs, 1e-9)).toLocaleString('en-US')} events/s)\n`,
  );
}

async function cmdRun(argv: string[]): Promise<number> {
  const cmd = 'run';
  const o = parseOptions(argv, { mode: 'string', input: 'string', rules: 'string', out: 'string', 'batch-size': 'string', partitions: 'string', threads: 'string', 'control-url': 'string', window: 'string', passthrough: 'flag', 'inline-lines': 'flag', 'no-checkpoint': 'flag', 'progress-json': 'flag', 'no-build': 'flag', help: 'flag' }, cmd);
  if (o.has('help')) { console.log(USAGE); return 0; }
  const mode = required(o, 'mode', cmd);
  if (!['duckdb', 'duckdb-sql', 'monolith', 'split'].includes(mode)) throw new UsageError(`${cmd}: unknown --mode ${JSON.stringify(mode)} (expected monolith, split, duckdb or duckdb-sql)`);
  const input = resolve(required(o, 'input', cmd));
  const out = resolve(required(o, 'out', cmd));
  const rulesPath = o.has('rules') ? resolve(o.get('rules')!) : undefined;
  const batchSize = intOption(o, 'batch-size', cmd, { min: 1 });
  const partitions = intOption(o, 'partitions', cmd, { min: 1 });
  const threads = intOption(o, 'threads', cmd, { min: 1 });

  if (mode === 'monolith') {
    const { BuildError, buildMonolith, MONOLITH_BIN, runMonolith } = await import('./engines/monolith-runner.js');
    let bin = MONOLITH_BIN;
    if (!o.has('no-build')) {
      try { bin = buildMonolith(); } catch (e) { if (e instanceof BuildError) die(2, e.message); throw e; }
    } else if (!existsSync(bin)) die(2, `--no-build given but ${bin} does not exist`);
    ensureDir(out, '--out');
    return runMonolith(bin, { input, out, rules: rulesPath, threads, batchSize, partitions, controlUrl: o.get('control-url') });
  }

  // Rules first (before any event is read), then the input.
  let rules;
  try { rules = loadRules(rulesPath); } catch (e) { if (e instanceof RulesError) die(2, e.message); throw e; }
  let st;
  try { st = statSync(input); } catch { die(2, `run: cannot read --input ${input}: no such file`); }
  if (!st.isFile()) die(2, `run: --input ${input} is not a file`);
  ensureDir(out, '--out');

  if (mode === 'split') {
    const { runSplit, SplitError } = await import('./engines/split-runner.js');
    const window = intOption(o, 'window', cmd, { min: 1, max: 1024 });
    try {
      const c = await runSplit({
        input, out, rulesJson: JSON.stringify(rules), batchSize, partitions, window,
        passthrough: o.has('passthrough'), inlineLines: o.has('inline-lines'), controlUrl: o.get('control-url'), build: !o.has('no-build'), checkpoint: !o.has('no-checkpoint'),
        // for the benchmark: how far ingest has read, 4× a second, as JSON lines on stdout
        ...(o.has('progress-json')
          ? {
              progressIntervalMs: 250,
              onProgress: (p) => {
                process.stdout.write(JSON.stringify({ bytesRead: Number(p.bytesRead), inputBytes: Number(p.inputBytes), attempt: p.attempt }) + '\n');
              },
            }
          : {}),
      });
      process.stderr.write(
        `run split: ${c.lines} lines (${c.invalid} invalid, ${c.dropped} dropped) in ${c.wallSeconds.toFixed(2)} s, ` +
          `${Math.round(Number(c.lines) / Math.max(c.wallSeconds, 1e-9)).toLocaleString('en-US')} events/s, ` +
          `batch latency p99 ${c.batchLatency?.p99Ms.toFixed(1)} ms, ${c.checksum ? `checksum ${c.checksum}` : 'pass-through (no results)'}` +
          (c.attempts > 1 ? `, recovered ${c.attempts - 1}× (${c.replayedBatches} batches replayed)` : '') + '\n',
      );
      return 0;
    } catch (e) {
      if (e instanceof SplitError) die(e.exitCode, e.message);
      throw e;
    }
  }
  // Loaded before the engine starts its clock, as it was when the import was static.
  await (await import('./duckdb.js')).loadDuckdb();
  let outcome;
  if (mode === 'duckdb') outcome = await (await import('./engines/duckdb-engine.js')).runDuckdb(input, rules, out);
  else {
    const { runDuckdbSql } = await import('./engines/duckdb-sql-engine.js');
    try {
      outcome = await runDuckdbSql(input, rules, out);
    } catch (e) {
      // read_ndjson rejects what it cannot parse; this mode has no validator by design.
      die(2, `run: mode duckdb-sql needs valid-only input (use --mode duckdb for the validating oracle): ${(e as Error).message.split('\n')[0]}`);
    }
  }
  const m = outcome.metrics;
  process.stderr.write(
    `run ${mode}: ${m.events} lines (${m.invalid} invalid) in ${(m.wallSeconds as number).toFixed(2)} s, ` +
      `${Math.round(m.eventsPerSecond as number).toLocaleString('en-US')} events/s, checksum ${outcome.checksum}\n`,
  );
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    console.log(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  switch (cmd) {
    case 'generate': await cmdGenerate(rest); return 0;
    case 'run': return cmdRun(rest);
    case 'bench': {
      const o = parseOptions(rest, {
        modes: 'string', events: 'string', runs: 'string', warmup: 'string', scaling: 'string', seed: 'string', users: 'string', days: 'string',
        distribution: 'string', rules: 'string', 'out-dir': 'string', threads: 'string', 'batch-size': 'string', partitions: 'string',
        'control-url': 'string', 'history-dir': 'string', id: 'string', origin: 'string', 'progress-fd': 'string', 'no-passthrough': 'flag', 'inline-lines': 'flag', help: 'flag',
      }, 'bench');
      if (o.has('help')) { console.log(USAGE); return 0; }
      const modes = (o.get('modes') ?? 'duckdb,monolith,split').split(',').map((s) => s.trim());
      for (const m of modes) {
        if (!['duckdb', 'duckdb-sql', 'monolith', 'split'].includes(m)) throw new UsageError(`bench: unknown mode ${JSON.stringify(m)} in --modes (expected duckdb, monolith, split)`);
      }
      const distribution = (o.get('distribution') ?? 'uniform') as Distribution;
      if (!DISTRIBUTIONS.includes(distribution)) throw new UsageError(`bench: unknown --distribution ${JSON.stringify(distribution)}`);
      const scalingPartitions = o.has('scaling') ? intList(o.get('scaling')!, 'scaling', 'bench', 1) : [];
      for (const p of scalingPartitions) if (p > 64) throw new UsageError(`bench: --scaling entries must be 1..64, got ${p}`);
      if (scalingPartitions.length && !modes.includes('monolith') && !modes.includes('split')) {
        throw new UsageError('bench: --scaling sweeps the monolith and the split; add one of them to --modes');
      }
      const id = o.get('id');
      if (id !== undefined && !isRunId(id)) throw new UsageError(`bench: --id must look like 20261129T082500Z-3fa9c1, got ${JSON.stringify(id)}`);
      const origin = o.get('origin') ?? 'cli';
      if (origin !== 'cli' && origin !== 'dashboard') throw new UsageError(`bench: --origin must be cli or dashboard, got ${JSON.stringify(origin)}`);
      const rulesPath = o.has('rules') ? resolve(o.get('rules')!) : undefined;
      try { loadRules(rulesPath); } catch (e) { if (e instanceof RulesError) die(2, e.message); throw e; }
      const [{ runBench }, { SplitError }, { BuildError }] = await Promise.all([
        import('./bench/bench.js'),
        import('./engines/split-runner.js'),
        import('./engines/monolith-runner.js'),
      ]);
      try {
        return await runBench({
          modes,
          events: intList(o.get('events') ?? '1000000,10000000', 'events', 'bench', 1),
          runs: intOption(o, 'runs', 'bench', { min: 1, max: 100, fallback: 3 })!,
          warmup: intOption(o, 'warmup', 'bench', { min: 0, max: 100, fallback: 1 })!,
          scalingPartitions,
          seed: intOption(o, 'seed', 'bench', { min: 0, fallback: 42 })!,
          users: intOption(o, 'users', 'bench', { min: 1, fallback: 10_000 })!,
          days: intOption(o, 'days', 'bench', { min: 1, max: 365, fallback: DEFAULT_DAYS })!,
          distribution,
          rulesPath,
          outDir: resolve(o.get('out-dir') ?? 'reports/bench'),
          threads: intOption(o, 'threads', 'bench', { min: 1 }),
          batchSize: intOption(o, 'batch-size', 'bench', { min: 1 }),
          partitions: intOption(o, 'partitions', 'bench', { min: 1 }),
          controlUrl: o.get('control-url'),
          historyDir: resolve(o.get('history-dir') ?? DEFAULT_HISTORY_DIR),
          id,
          origin,
          progressFd: intOption(o, 'progress-fd', 'bench', { min: 3 }),
          skipPassthrough: o.has('no-passthrough'),
          inlineLines: o.has('inline-lines'),
        });
      } catch (e) {
        if (e instanceof SplitError || e instanceof BuildError) die(e instanceof SplitError ? e.exitCode : 2, e.message);
        throw e;
      }
    }
    case 'chaos': {
      const o = parseOptions(rest, {
        events: 'string', 'kills-per-stage': 'string', stages: 'string', every: 'string', 'every-events': 'string', 'monolith-kills': 'string',
        'checkpoint-interval': 'string', seed: 'string', rules: 'string', 'out-dir': 'string', 'control-url': 'string', help: 'flag',
      }, 'chaos');
      if (o.has('help')) { console.log(USAGE); return 0; }
      const [{ runChaos }, { SplitError, STAGES }, { BuildError }] = await Promise.all([
        import('./chaos/chaos.js'),
        import('./engines/split-runner.js'),
        import('./engines/monolith-runner.js'),
      ]);
      const stages = (o.get('stages') ?? STAGES.join(',')).split(',').map((s) => s.trim());
      for (const s of stages) if (!(STAGES as readonly string[]).includes(s)) throw new UsageError(`chaos: unknown stage ${JSON.stringify(s)} in --stages (expected ${STAGES.join(', ')})`);
      const rulesPath = o.has('rules') ? resolve(o.get('rules')!) : undefined;
      try { loadRules(rulesPath); } catch (e) { if (e instanceof RulesError) die(2, e.message); throw e; }
      const events = intList(o.get('events') ?? '1000000', 'events', 'chaos', 1000)[0]!;
      try {
        return await runChaos({
          events,
          killsPerStage: intOption(o, 'kills-per-stage', 'chaos', { min: 0, max: 1000, fallback: 20 })!,
          stages,
          seed: intOption(o, 'seed', 'chaos', { min: 0, fallback: 42 })!,
          every: intOption(o, 'every', 'chaos', { min: 0, max: 3600, fallback: 2 })!,
          everyEvents: intList(o.get('every-events') ?? String(events * 10), 'every-events', 'chaos', 1000)[0]!,
          monolithKills: intOption(o, 'monolith-kills', 'chaos', { min: 0, max: 100, fallback: 3 })!,
          checkpointIntervalMs: intOption(o, 'checkpoint-interval', 'chaos', { min: 50, max: 600_000 }),
          rulesPath,
          outDir: resolve(o.get('out-dir') ?? 'reports/chaos'),
          controlUrl: o.get('control-url'),
        });
      } catch (e) {
        if (e instanceof SplitError || e instanceof BuildError) die(e instanceof SplitError ? e.exitCode : 2, e.message);
        throw e;
      }
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(cmd)} (expected generate, run, bench or chaos; see --help)`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: unknown) => {
    if (e instanceof UsageError) die(2, e.message);
    // File-system errors on paths the user gave (unwritable --out, vanished input) are theirs to fix.
    const code = (e as NodeJS.ErrnoException | undefined)?.code;
    if (code !== undefined && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EROFS', 'ENOSPC', 'EPERM'].includes(code)) die(2, (e as Error).message);
    process.stderr.write(`pipeline: unexpected failure: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
