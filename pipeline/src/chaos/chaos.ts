// `pipeline chaos`: runs the split pipeline over and over, and in every run kill -9s one stage
// at a random moment through the control server's ChaosService (the same CRASH the dashboard
// sends). Every run's results are compared with the monolith's for the same file: the checksum,
// and group by group how many events were lost or counted twice. Recovery is timed from the
// progress ingest streams every 50 ms. A second mode kills a random stage every few seconds of
// one long run, and the monolith is killed too, to show what a crash costs it.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectError, createClient } from '@connectrpc/connect';
import type { RunComplete, RunProgress } from '@modular-runtime/proto/pipeline/v1/pipeline';
import { ChaosService, FaultType } from '@modular-runtime/proto/runtime/v1/chaos';
import { DEFAULT_DAYS } from '../generate/generator.js';
import { cachedInput } from '../generate/cache.js';
import { buildMonolith, monolithArgv } from '../engines/monolith-runner.js';
import { awaitStages, buildSplit, controlTransport, runThroughStages, SplitError, SplitStack, STAGES } from '../engines/split-runner.js';
import { loadRules } from '../rules.js';
import { compareResults, recoveryOf, type Sample } from './measure.js';
import { renderChaosMarkdown, summarize, type ChaosReport, type KillRecord, type MonolithKill } from './report.js';

export interface ChaosOptions {
  events: number;
  killsPerStage: number;
  stages: string[];
  seed: number;
  /** Seconds between kills in the kill-every-few-seconds run; 0 skips that run. */
  every: number;
  /** Events of the kill-every-few-seconds run. */
  everyEvents: number;
  monolithKills: number;
  outDir: string;
  controlUrl?: string;
  checkpointIntervalMs?: number;
  rulesPath?: string;
}

/** Deterministic PRNG (mulberry32), so a seed replays the same plan. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The chaos input: generated once (1 % invalid lines, so dead letters go through recovery too). */
async function ensureInput(events: number, seed: number): Promise<string> {
  const { path } = await cachedInput(
    { events, seed, users: 10_000, days: DEFAULT_DAYS, distribution: 'uniform', invalidRatio: 0.01 },
    { onGenerate: (path) => process.stderr.write(`chaos: generating ${events.toLocaleString('en-US')} events (1 % invalid lines) → ${path}\n`) },
  );
  return path;
}

/** The monolith's results for the file: what every split run must reproduce byte for byte. */
async function expectedResults(bin: string, input: string, rules: string | undefined): Promise<{ results: string; deadLetters: string; checksum: string; seconds: number }> {
  const out = mkdtempSync(join(tmpdir(), 'chaos-expected-'));
  try {
    const t0 = performance.now();
    const code = await new Promise<number>((res, rej) => {
      const child = spawn(bin, monolithArgv({ input, out, rules }), { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('error', rej);
      child.on('exit', (c) => res(c ?? 1));
    });
    if (code !== 0) throw new Error(`chaos: the monolith failed on ${input} (exit ${code})`);
    const seconds = (performance.now() - t0) / 1000;
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { checksum: string };
    return { results: readFileSync(join(out, 'results.json'), 'utf8'), deadLetters: readFileSync(join(out, 'dead-letters.ndjson'), 'utf8'), checksum: metrics.checksum, seconds };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

function chaosClient(url: string) {
  return createClient(ChaosService, controlTransport(url));
}

/** Waits until all five stages are registered (after a kill, the restarted one too). */
async function waitForStages(url: string, timeoutMs = 30_000): Promise<void> {
  const missing = await awaitStages(url, { timeoutMs, pollMs: 50 });
  if (missing.length) throw new SplitError(`chaos: stages missing after ${timeoutMs / 1000} s: ${missing.join(', ')}`);
}

interface RunOutcome {
  complete?: RunComplete;
  error?: string;
  samples: Sample[];
  kills: { stage: string; atMs: number; pid: number }[];
  seconds: number;
  results?: string;
  deadLetters?: string;
}

/** Times a kill that interrupted nothing (it struck too late) is made again, earlier. */
const MAX_LATE_KILLS = 3;

/** A kill to make during a run: when it has done `atLine` lines, or `atMs` after its start. */
type KillPlan = { stage: string; atLine?: number; atMs?: number };

/** One split run with the kills of `plan` made while it runs (ChaosService CRASH). */
async function splitRun(url: string, input: string, rulesJson: string, plan: KillPlan[], checkpointIntervalMs: number | undefined): Promise<RunOutcome> {
  const out = mkdtempSync(join(tmpdir(), 'chaos-run-'));
  const chaos = chaosClient(url);
  const samples: Sample[] = [];
  const kills: RunOutcome['kills'] = [];
  const t0 = performance.now();
  let done = false;
  const crash = (stage: string) => {
    if (done) return;
    const at = performance.now() - t0;
    chaos.injectFault({ target: stage, type: FaultType.CRASH }).then(
      (r) => kills.push({ stage, atMs: at, pid: Number(r.fault?.affected ?? 0) }),
      (e: unknown) => process.stderr.write(`chaos: CRASH ${stage} failed: ${ConnectError.from(e).message}\n`),
    );
  };
  const timers = plan.flatMap((k) => (k.atMs === undefined ? [] : [setTimeout(() => crash(k.stage), k.atMs)]));
  const byLine = plan.filter((k) => k.atLine !== undefined).sort((a, b) => a.atLine! - b.atLine!);
  const outcome: RunOutcome = { samples, kills, seconds: 0 };
  try {
    outcome.complete = await runThroughStages(url, {
      input,
      out,
      rulesJson,
      progress: false,
      progressIntervalMs: 50,
      checkpointIntervalMs,
      onProgress: (p: RunProgress) => {
        const s = { t: performance.now() - t0, attempt: p.attempt, acked: Number(p.linesAcked), resumedAfter: Number(p.resumedAfterLine) };
        samples.push(s);
        while (byLine.length && s.resumedAfter + s.acked >= byLine[0]!.atLine!) crash(byLine.shift()!.stage);
      },
    });
    outcome.results = readFileSync(join(out, 'results.json'), 'utf8');
    outcome.deadLetters = readFileSync(join(out, 'dead-letters.ndjson'), 'utf8');
  } catch (e) {
    outcome.error = e instanceof Error ? e.message : String(e);
  } finally {
    done = true;
    outcome.seconds = (performance.now() - t0) / 1000;
    for (const t of timers) clearTimeout(t);
    rmSync(out, { recursive: true, force: true });
  }
  return outcome;
}

/**
 * Kills the monolith once it has read `fraction` of its input (its /proc io counter, polled every
 * 2 ms): how far it got, and what survived (it writes nothing before the end).
 */
async function monolithKill(bin: string, input: string, inputBytes: number, fraction: number, rules: string | undefined): Promise<MonolithKill> {
  const out = mkdtempSync(join(tmpdir(), 'chaos-monolith-'));
  try {
    const t0 = performance.now();
    const child = spawn(bin, monolithArgv({ input, out, rules }), { stdio: ['ignore', 'ignore', 'ignore'] });
    const exited = new Promise<{ signal: string | null }>((res) => child.on('exit', (_code, signal) => res({ signal })));
    let bytesRead = 0;
    let atMs = 0;
    while (child.exitCode === null && child.signalCode === null) {
      try {
        bytesRead = Number(/rchar:\s*(\d+)/.exec(readFileSync(`/proc/${child.pid}/io`, 'utf8'))?.[1] ?? 0);
      } catch {
        break; // gone
      }
      if (bytesRead >= fraction * inputBytes) {
        atMs = performance.now() - t0;
        child.kill('SIGKILL');
        break;
      }
      await new Promise((r) => setTimeout(r, 2));
    }
    const { signal } = await exited;
    return { atMs, killed: signal === 'SIGKILL', inputFractionRead: Math.min(1, bytesRead / inputBytes), resultsWritten: existsSync(join(out, 'results.json')) };
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

export async function runChaos(o: ChaosOptions): Promise<number> {
  for (const s of o.stages) if (!(STAGES as readonly string[]).includes(s)) throw new SplitError(`chaos: unknown stage ${JSON.stringify(s)} (expected ${STAGES.join(', ')})`, 2);
  const random = prng(o.seed);
  const rules = loadRules(o.rulesPath);
  const rulesJson = JSON.stringify(rules);
  const input = await ensureInput(o.events, o.seed);
  const inputBytes = statSync(input).size;
  const bin = buildMonolith({ quiet: true });
  const expected = await expectedResults(bin, input, o.rulesPath);
  process.stderr.write(`chaos: expected checksum ${expected.checksum} (monolith, ${expected.seconds.toFixed(2)} s)\n`);

  let stack: SplitStack | undefined;
  let url = o.controlUrl;
  if (url === undefined) {
    await buildSplit({ quiet: true });
    process.stderr.write('chaos: starting a control server with the five stages (pipeline/split.runtime.yaml)\n');
    stack = await SplitStack.start();
    url = stack.url;
  }
  const startedAt = new Date();
  const kills: KillRecord[] = [];
  try {
    await waitForStages(url);
    // A clean run first: its duration places the kills, and it must be right too.
    const clean = await splitRun(url, input, rulesJson, [], o.checkpointIntervalMs);
    if (clean.error) throw new SplitError(`chaos: the uninterrupted run failed: ${clean.error}`);
    const cleanCheck = compareResults(expected, clean.results!, clean.deadLetters!);
    const lines = Number(clean.complete!.lines);
    process.stderr.write(`chaos: uninterrupted run ${clean.seconds.toFixed(2)} s, ${cleanCheck.checksumOk && cleanCheck.deadLettersOk ? 'identical' : 'DIFFERENT'}\n`);

    const plan: string[] = [];
    for (let i = 0; i < o.killsPerStage; i++) plan.push(...o.stages);
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [plan[i], plan[j]] = [plan[j]!, plan[i]!];
    }
    let n = 0;
    for (const stage of plan) {
      n++;
      // After 20 % to 60 % of the lines: late enough to have a rate to return to.
      let fraction = 0.2 + 0.4 * random();
      let rec: KillRecord;
      for (let tries = 0; ; tries++) {
        await waitForStages(url);
        const r = await splitRun(url, input, rulesJson, [{ stage, atLine: Math.round(fraction * lines) }], o.checkpointIntervalMs);
        rec = { ...(recordsOf(r, expected, 'single')[0] ?? missedKill(stage, r, expected)), ...(tries > 0 ? { lateKills: tries } : {}) };
        // The lines acknowledged so far trail what the stages have done: on a short run the
        // kill can strike after the stage has passed the run's RunComplete on (the run then
        // completes in its first attempt), or the run ends before the kill. Such a kill
        // interrupts nothing: it is made again, earlier, a few times.
        const late = r.error === undefined && (r.kills.length === 0 || (r.complete?.attempts ?? 0) < 2);
        if (!late || tries === MAX_LATE_KILLS) break;
        process.stderr.write(`chaos: ${n}/${plan.length} kill ${stage} at ${Math.round(fraction * 100)} % came too late (the run completed in its first attempt); again, earlier\n`);
        fraction /= 2;
      }
      kills.push(rec);
      process.stderr.write(
        `chaos: ${n}/${plan.length} kill ${stage} at ${Math.round(fraction * 100)} % (${rec.killAtMs === null ? '–' : `${(rec.killAtMs / 1000).toFixed(2)} s`}) → ` +
          (rec.error ? `FAILED: ${rec.error}` : `${identical(rec) ? 'identical' : 'DIFFERENT'}, lost ${rec.lost}, duplicated ${rec.duplicated}, ` +
            `recovery ${rec.recoveryMs === null ? 'n/a' : `${Math.round(rec.recoveryMs)} ms`}, attempts ${rec.attempts}`) + '\n',
      );
    }

    const every: KillRecord[] = [];
    if (o.every > 0) {
      const longInput = await ensureInput(o.everyEvents, o.seed);
      const longExpected = await expectedResults(bin, longInput, o.rulesPath);
      await waitForStages(url);
      const times: { stage: string; atMs: number }[] = [];
      // Enough kills for a run several times longer than an uninterrupted one.
      const horizon = clean.seconds * 1000 * (o.everyEvents / o.events) * 4;
      for (let t = o.every * 1000; t < horizon; t += o.every * 1000) times.push({ stage: o.stages[Math.floor(random() * o.stages.length)]!, atMs: t });
      process.stderr.write(`chaos: one run of ${o.everyEvents.toLocaleString('en-US')} events with a kill every ${o.every} s\n`);
      const r = await splitRun(url, longInput, rulesJson, times, o.checkpointIntervalMs);
      every.push(...recordsOf(r, longExpected, 'every'));
      const verdict = every[0] ?? missedKill('(none)', r, longExpected);
      process.stderr.write(`chaos: kill-every-${o.every}-s run: ${r.kills.length} kills, ${verdict.error ? `FAILED: ${verdict.error}` : identical(verdict) ? 'identical' : 'DIFFERENT'}\n`);
    }

    const monolith: MonolithKill[] = [];
    for (let i = 0; i < o.monolithKills; i++) {
      monolith.push(await monolithKill(bin, input, inputBytes, 0.3 + 0.4 * random(), o.rulesPath));
    }

    const report: ChaosReport = {
      version: 1,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      options: { events: o.events, killsPerStage: o.killsPerStage, stages: o.stages, seed: o.seed, every: o.every, everyEvents: o.everyEvents, checkpointIntervalMs: o.checkpointIntervalMs ?? 500 },
      input: { path: input, bytes: inputBytes },
      expectedChecksum: expected.checksum,
      uninterrupted: { seconds: clean.seconds, checksumOk: cleanCheck.checksumOk && cleanCheck.deadLettersOk },
      kills,
      every,
      stages: summarize(kills, o.stages),
      monolith,
    };
    const dir = join(o.outDir, startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z'));
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'chaos.json'), JSON.stringify(report, null, 2) + '\n');
    const md = renderChaosMarkdown(report);
    writeFileSync(join(dir, 'chaos.md'), md);
    process.stdout.write(md + `\nchaos: report in ${join(dir, 'chaos.md')} and chaos.json\n`);
    const bad = [...kills, ...every].some((k) => k.error !== undefined || !identical(k) || k.lost > 0 || k.duplicated > 0);
    return bad || !report.uninterrupted.checksumOk ? 1 : 0;
  } finally {
    await stack?.stop();
  }
}

type Expected = { results: string; deadLetters: string; checksum: string };

/** A run's verdict against the expected results, shared by every kill in it. */
function verdictOf(r: RunOutcome, expected: Expected) {
  const check = r.results !== undefined ? compareResults(expected, r.results, r.deadLetters!) : undefined;
  return {
    error: r.error,
    checksumOk: check?.checksumOk ?? false,
    deadLettersOk: check?.deadLettersOk ?? false,
    lost: check?.lost ?? 0,
    duplicated: check?.duplicated ?? 0,
    attempts: r.complete?.attempts ?? 0,
    seconds: r.seconds,
  };
}

/**
 * One record per kill made in a run, in order, each with the run's verdict (its lost and
 * duplicated counts on the first only, so sums count them once) and its own recovery, timed
 * up to the next kill.
 */
function recordsOf(r: RunOutcome, expected: Expected, kind: KillRecord['kind']): KillRecord[] {
  const verdict = verdictOf(r, expected);
  const kills = [...r.kills].sort((a, b) => a.atMs - b.atMs);
  return kills.map((k, i) => {
    const until = kills[i + 1]?.atMs ?? r.seconds * 1000;
    const rec = recoveryOf(r.samples.filter((s) => s.t <= until), k.atMs, until);
    return { kind, stage: k.stage, killAtMs: k.atMs, pid: k.pid, ...verdict, ...(i > 0 ? { lost: 0, duplicated: 0 } : {}), ...rec };
  });
}

/** The record of a run whose planned kill of `stage` never happened (it ended first). */
function missedKill(stage: string, r: RunOutcome, expected: Expected): KillRecord {
  return {
    kind: 'single',
    stage,
    killAtMs: null,
    pid: 0,
    ...verdictOf(r, expected),
    error: r.error ?? 'the run ended before the kill',
    recoveryMs: null,
    caughtUpMs: null,
    rateBefore: 0,
    replayedLines: 0,
  };
}

const identical = (k: KillRecord) => k.checksumOk && k.deadLettersOk;
