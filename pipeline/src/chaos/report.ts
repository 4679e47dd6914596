// The chaos report: every kill with its verdict and recovery, per-stage summaries
// (p50/p95/max), the kill-every-few-seconds run, and the monolith's contrast; as JSON and Markdown.
import { percentile } from '../bench/stats.js';

export interface KillRecord {
  kind: 'single' | 'every';
  stage: string;
  /** ms after the run's start; null when the run ended before the kill. */
  killAtMs: number | null;
  pid: number;
  error?: string;
  /** results.json has the expected checksum; the dead letters match by line and reason. */
  checksumOk: boolean;
  deadLettersOk: boolean;
  lost: number;
  duplicated: number;
  attempts: number;
  /** Lines done twice: from the checkpoint resumed from to where the kill struck. */
  replayedLines: number;
  seconds: number;
  /** Kill → acknowledged-lines rate back to ≥ 90 % of the rate before it (ms). */
  recoveryMs: number | null;
  /** Kill → the run is back at the line it had reached (ms). */
  caughtUpMs: number | null;
  rateBefore: number;
  /** Earlier tries of this kill that struck after the run had passed the stage (made again, earlier). */
  lateKills?: number;
}

export interface MonolithKill {
  atMs: number;
  killed: boolean;
  inputFractionRead: number;
  resultsWritten: boolean;
}

export interface StageSummary {
  stage: string;
  kills: number;
  /** Runs whose results.json checksum and dead letters were both as expected. */
  identical: number;
  failedRuns: number;
  lost: number;
  duplicated: number;
  recoveryMs: { p50: number; p95: number; max: number } | null;
  caughtUpMs: { p50: number; p95: number; max: number } | null;
}

export interface ChaosReport {
  version: 1;
  startedAt: string;
  finishedAt: string;
  options: { events: number; killsPerStage: number; stages: string[]; seed: number; every: number; everyEvents: number; checkpointIntervalMs: number };
  input: { path: string; bytes: number };
  expectedChecksum: string;
  uninterrupted: { seconds: number; checksumOk: boolean };
  kills: KillRecord[];
  every: KillRecord[];
  stages: StageSummary[];
  monolith: MonolithKill[];
}

function spreadOf(xs: number[]): { p50: number; p95: number; max: number } | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), max: s[s.length - 1]! };
}

export function summarize(kills: KillRecord[], stages: string[]): StageSummary[] {
  return stages.map((stage) => {
    const ks = kills.filter((k) => k.stage === stage);
    return {
      stage,
      kills: ks.length,
      identical: ks.filter((k) => k.checksumOk && k.deadLettersOk).length,
      failedRuns: ks.filter((k) => k.error !== undefined).length,
      lost: ks.reduce((a, k) => a + k.lost, 0),
      duplicated: ks.reduce((a, k) => a + k.duplicated, 0),
      recoveryMs: spreadOf(ks.flatMap((k) => (k.recoveryMs === null ? [] : [k.recoveryMs]))),
      caughtUpMs: spreadOf(ks.flatMap((k) => (k.caughtUpMs === null ? [] : [k.caughtUpMs]))),
    };
  });
}

const ms = (x: number | undefined) => (x === undefined ? '–' : `${Math.round(x)}`);
const triple = (s: { p50: number; p95: number; max: number } | null) => (s ? `${ms(s.p50)} / ${ms(s.p95)} / ${ms(s.max)}` : '–');

export function renderChaosMarkdown(r: ChaosReport): string {
  const all = [...r.kills, ...r.every];
  const lines = [
    `# Chaos report ${r.startedAt}`,
    '',
    `Input: ${r.options.events.toLocaleString('en-US')} events (1 % invalid lines), ${(r.input.bytes / 1e6).toFixed(1)} MB, seed ${r.options.seed}. ` +
      `Expected checksum (monolith): \`${r.expectedChecksum}\`. Checkpoint every ${r.options.checkpointIntervalMs} ms.`,
    `Uninterrupted split run: ${r.uninterrupted.seconds.toFixed(2)} s, results ${r.uninterrupted.checksumOk ? 'identical' : '**different**'}.`,
    '',
    `Each run kill -9s one stage (ChaosService CRASH) once a random 20–60 % of the lines are done. "Identical" = results.json has the ` +
      `monolith's checksum and the dead letters are the monolith's, line by line and reason by reason. ` +
      `Recovery = kill → lines acknowledged per second (over 250 ms) back to ≥ 90 % of the rate in the second before the kill; ` +
      `caught up = kill → the run is back at the line it had reached. Lost and duplicated are counted against the monolith's results, ` +
      `group by group (byType counts) and dead letter by dead letter.` +
      lateNote(r.kills),
    '',
    '| stage | kills | identical | failed runs | lost | duplicated | recovery p50 / p95 / max (ms) | caught up p50 / p95 / max (ms) |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...r.stages.map((s) => `| ${s.stage} | ${s.kills} | ${s.identical} | ${s.failedRuns} | ${s.lost} | ${s.duplicated} | ${triple(s.recoveryMs)} | ${triple(s.caughtUpMs)} |`),
    '',
    `All kills: ${all.length}; identical: ${all.filter((k) => k.checksumOk && k.deadLettersOk).length}; lost ${all.reduce((a, k) => a + k.lost, 0)}; duplicated ${all.reduce((a, k) => a + k.duplicated, 0)}.`,
  ];
  if (r.every.length) {
    const rec = spreadOf(r.every.flatMap((k) => (k.recoveryMs === null ? [] : [k.recoveryMs])));
    lines.push(
      '',
      `## A kill every ${r.options.every} s`,
      '',
      `One run of ${r.options.everyEvents.toLocaleString('en-US')} events, ${r.every.length} kills (${[...new Set(r.every.map((k) => k.stage))].join(', ')}), ` +
        `${r.every[0]!.error ? `**failed**: ${r.every[0]!.error}` : `results ${r.every[0]!.checksumOk && r.every[0]!.deadLettersOk ? 'identical' : '**different**'}, lost ${r.every[0]!.lost}, duplicated ${r.every[0]!.duplicated}, ${r.every[0]!.attempts} attempts`}, ` +
        `${r.every[0]!.seconds.toFixed(1)} s; recovery p50 / p95 / max ${triple(rec)} ms.`,
    );
  }
  if (r.monolith.length) {
    lines.push(
      '',
      '## The monolith, killed the same way',
      '',
      '| kill at (ms) | input read when killed | results written | outcome |',
      '|---:|---:|---|---|',
      ...r.monolith.map((m) => `| ${ms(m.atMs)} | ${(m.inputFractionRead * 100).toFixed(0)} % | ${m.resultsWritten ? 'yes' : 'no'} | ${m.killed ? 'run lost: start again from the beginning' : 'finished before the kill'} |`),
    );
  }
  lines.push('', '## Every kill', '', '| # | stage | kill at (ms) | verdict | attempts | lines done twice | recovery (ms) | caught up (ms) | run (s) |', '|---:|---|---:|---|---:|---:|---:|---:|---:|');
  all.forEach((k, i) => {
    const verdict = k.error
      ? `failed: ${k.error.replace(/\|/g, '/').slice(0, 120)}`
      : k.checksumOk && k.deadLettersOk
        ? 'identical'
        : `different (${k.checksumOk ? '' : 'checksum, '}${k.deadLettersOk ? '' : 'dead letters, '}lost ${k.lost}, dup ${k.duplicated})`;
    lines.push(`| ${i + 1} | ${k.stage}${k.kind === 'every' ? ' (every)' : ''} | ${k.killAtMs === null ? '–' : ms(k.killAtMs)} | ${verdict} | ${k.attempts} | ${k.replayedLines} | ${k.recoveryMs === null ? '–' : ms(k.recoveryMs)} | ${k.caughtUpMs === null ? '–' : ms(k.caughtUpMs)} | ${k.seconds.toFixed(2)} |`);
  });
  return lines.join('\n') + '\n';
}

/** How many kills had to be made again because they struck after the run had passed the stage. */
function lateNote(kills: KillRecord[]): string {
  const late = kills.reduce((a, k) => a + (k.lateKills ?? 0), 0);
  if (late === 0) return '';
  return ` ${late === 1 ? 'One kill' : `${late} kills`} came too late to interrupt anything (the run completed in its first attempt) and ${late === 1 ? 'was' : 'were'} made again, earlier in the run.`;
}
