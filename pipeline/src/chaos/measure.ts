// What a chaos run is judged by: its results against the expected ones (checksum, and events
// lost or counted twice, group by group and dead letter by dead letter), and how long the
// pipeline took to get its throughput back after a kill.
import { sha256Hex } from '../engines/outputs.js';

/** One progress report from ingest: ms since the run began, attempt, lines acknowledged in it. */
export interface Sample {
  t: number;
  attempt: number;
  acked: number;
  /** The line the attempt resumed after (0 for the first). */
  resumedAfter: number;
}

interface Group {
  key: string;
  count: number;
}

/**
 * Compares a run's results.json and dead-letters.ndjson with the expected ones: the checksum of
 * results.json, and the dead letters by line and reason (their detail text is free, §4.4).
 * `lost` counts events (byType counts) and dead letters missing, `duplicated` those counted
 * more than once.
 */
export function compareResults(
  expected: { results: string; deadLetters: string },
  results: string,
  deadLetters: string,
): { checksumOk: boolean; deadLettersOk: boolean; lost: number; duplicated: number } {
  const checksumOk = sha256Hex(results) === sha256Hex(expected.results);
  const key = (text: string) =>
    text.split('\n').filter((l) => l !== '').map((l) => {
      const d = JSON.parse(l) as { line: number; reason: string };
      return `${d.line} ${d.reason}`;
    });
  const deadLettersOk = key(deadLetters).join('\n') === key(expected.deadLetters).join('\n');
  const want = new Map(((JSON.parse(expected.results) as { byType: Group[] }).byType).map((g) => [g.key, g.count]));
  const got = new Map(((JSON.parse(results) as { byType: Group[] }).byType).map((g) => [g.key, g.count]));
  let lost = 0;
  let duplicated = 0;
  for (const key of new Set([...want.keys(), ...got.keys()])) {
    const d = (got.get(key) ?? 0) - (want.get(key) ?? 0);
    if (d < 0) lost -= d;
    else duplicated += d;
  }
  const lines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => (JSON.parse(l) as { line: number }).line);
  const wantLines = new Set(lines(expected.deadLetters));
  const seen = new Map<number, number>();
  for (const l of lines(deadLetters)) seen.set(l, (seen.get(l) ?? 0) + 1);
  for (const l of wantLines) if (!seen.has(l)) lost++;
  for (const [l, n] of seen) duplicated += wantLines.has(l) ? n - 1 : n;
  return { checksumOk, deadLettersOk, lost, duplicated };
}

/** Lines acknowledged per second between two times, within one attempt's samples. */
function rateBetween(samples: Sample[], from: number, to: number): number | null {
  const inWindow = samples.filter((s) => s.t >= from && s.t <= to);
  if (inWindow.length < 2) return null;
  const a = inWindow[0]!;
  const b = inWindow[inWindow.length - 1]!;
  if (b.attempt !== a.attempt || b.t <= a.t) return null;
  return ((b.acked - a.acked) * 1000) / (b.t - a.t);
}

/** The window rates are measured over (ms). */
export const RATE_WINDOW_MS = 250;

/**
 * Recovery after a kill at `killMs`: the first moment the acknowledged-lines rate over the last
 * 250 ms is back to ≥ 90 % of the rate over the second before the kill (`recoveryMs`), and the
 * first moment the run has again reached the line it had reached at the kill (`caughtUpMs`).
 * When the run ends first, the end counts (the pipeline had nothing left to do).
 */
export interface Recovery {
  recoveryMs: number | null;
  caughtUpMs: number | null;
  rateBefore: number;
  /** Lines done again: from the checkpoint the next attempt resumed after, to where the kill struck. */
  replayedLines: number;
}

export function recoveryOf(samples: Sample[], killMs: number, endMs: number): Recovery {
  const before = samples.filter((s) => s.t <= killMs);
  const last = before[before.length - 1];
  if (!last) return { recoveryMs: null, caughtUpMs: null, rateBefore: 0, replayedLines: 0 };
  const sameAttempt = before.filter((s) => s.attempt === last.attempt);
  const rateBefore = rateBetween(sameAttempt, Math.max(killMs - 1000, sameAttempt[0]!.t), killMs) ?? 0;
  const reached = last.resumedAfter + last.acked;
  const after = samples.filter((s) => s.t > killMs);
  let recoveryMs: number | null = null;
  let caughtUpMs: number | null = null;
  for (const s of after) {
    const attemptSamples = after.filter((x) => x.attempt === s.attempt && x.t <= s.t);
    // a full window of the new attempt, not its first two samples
    if (recoveryMs === null && s.attempt > last.attempt && attemptSamples[0]!.t <= s.t - RATE_WINDOW_MS) {
      const r = rateBetween(attemptSamples, s.t - RATE_WINDOW_MS, s.t);
      if (r !== null && r >= 0.9 * rateBefore) recoveryMs = s.t - killMs;
    }
    if (caughtUpMs === null && s.attempt > last.attempt && s.resumedAfter + s.acked >= reached) caughtUpMs = s.t - killMs;
    if (recoveryMs !== null && caughtUpMs !== null) break;
  }
  const next = after.find((s) => s.attempt > last.attempt);
  const replayedLines = next ? Math.max(0, reached - next.resumedAfter) : 0;
  return { recoveryMs: recoveryMs ?? endMs - killMs, caughtUpMs: caughtUpMs ?? endMs - killMs, rateBefore, replayedLines };
}
