import { describe, expect, it } from 'vitest';
import { compareResults, recoveryOf, type Sample } from '../src/chaos/measure.js';
import { renderChaosMarkdown, summarize, type KillRecord } from '../src/chaos/report.js';

const results = (groups: [string, number][]) => JSON.stringify({ byType: groups.map(([key, count]) => ({ key, count })) });
const dl = (...lines: number[]) => lines.map((line) => JSON.stringify({ line, reason: 'invalid_json' }) + '\n').join('');

describe('compareResults', () => {
  const expected = { results: results([['click', 10], ['view', 5]]), deadLetters: dl(3, 9) };

  it('finds identical results identical', () => {
    expect(compareResults(expected, expected.results, expected.deadLetters)).toEqual({ checksumOk: true, deadLettersOk: true, lost: 0, duplicated: 0 });
  });

  it('counts events missing and counted twice, group by group', () => {
    expect(compareResults(expected, results([['click', 12], ['view', 4]]), dl(3, 9))).toEqual({ checksumOk: false, deadLettersOk: true, lost: 1, duplicated: 2 });
    expect(compareResults(expected, results([['click', 10]]), dl(3, 9))).toEqual({ checksumOk: false, deadLettersOk: true, lost: 5, duplicated: 0 });
  });

  it('ignores the free-text detail of dead letters, not their line or reason', () => {
    const withDetail = expected.deadLetters.replaceAll('}', ',"detail":"other words"}');
    expect(compareResults(expected, expected.results, withDetail)).toMatchObject({ deadLettersOk: true, lost: 0, duplicated: 0 });
    const otherReason = expected.deadLetters.replace('invalid_json', 'invalid_event');
    expect(compareResults(expected, expected.results, otherReason)).toMatchObject({ deadLettersOk: false });
  });

  it('counts dead letters missing, repeated or unexpected', () => {
    expect(compareResults(expected, expected.results, dl(3))).toEqual({ checksumOk: true, deadLettersOk: false, lost: 1, duplicated: 0 });
    expect(compareResults(expected, expected.results, dl(3, 3, 9, 11))).toEqual({ checksumOk: true, deadLettersOk: false, lost: 0, duplicated: 2 });
  });
});

/** A steady 1000 lines/s run, samples every 50 ms, killed at 1000 ms, back at 1600 ms. */
function samples(opts: { resumeAt: number; resumedAfter: number; rateAfter: number }): Sample[] {
  const out: Sample[] = [];
  for (let t = 0; t <= 1000; t += 50) out.push({ t, attempt: 1, acked: t, resumedAfter: 0 });
  for (let t = opts.resumeAt; t <= 4000; t += 50) out.push({ t, attempt: 2, acked: ((t - opts.resumeAt) * opts.rateAfter) / 1000, resumedAfter: opts.resumedAfter });
  return out;
}

describe('recoveryOf', () => {
  it('times the return to 90 % of the rate before the kill, and the catching up', () => {
    const r = recoveryOf(samples({ resumeAt: 1600, resumedAfter: 800, rateAfter: 1000 }), 1000, 4000);
    expect(r.rateBefore).toBeCloseTo(1000, 0);
    // the first 250 ms window wholly inside attempt 2 ends at 1850
    expect(r.recoveryMs).toBe(850);
    // 800 + (t − 1600) ≥ 1000 at t = 1800
    expect(r.caughtUpMs).toBe(800);
    // lines 801–1000 were done twice
    expect(r.replayedLines).toBe(200);
  });

  it('never calls a slower pipeline recovered', () => {
    const r = recoveryOf(samples({ resumeAt: 1600, resumedAfter: 800, rateAfter: 500 }), 1000, 4000);
    expect(r.recoveryMs).toBe(3000); // the run's end
  });
});

describe('chaos report', () => {
  const rec = (stage: string, recoveryMs: number, extra: Partial<KillRecord> = {}): KillRecord => ({
    kind: 'single', stage, killAtMs: 500, pid: 1, checksumOk: true, deadLettersOk: true, lost: 0, duplicated: 0, attempts: 2, replayedLines: 3,
    seconds: 2, recoveryMs, caughtUpMs: recoveryMs, rateBefore: 1, ...extra,
  });

  it('summarizes per stage with p50/p95/max and counts failures', () => {
    const kills = [rec('parse', 100), rec('parse', 300), rec('parse', 200), rec('sink', 900, { checksumOk: false, lost: 4 })];
    const s = summarize(kills, ['parse', 'sink', 'rules']);
    expect(s[0]).toMatchObject({ stage: 'parse', kills: 3, identical: 3, lost: 0, recoveryMs: { p50: 200, p95: 300, max: 300 } });
    expect(s[1]).toMatchObject({ stage: 'sink', kills: 1, identical: 0, lost: 4 });
    expect(s[2]).toMatchObject({ stage: 'rules', kills: 0, recoveryMs: null });
    const md = renderChaosMarkdown({
      version: 1, startedAt: 'x', finishedAt: 'y',
      options: { events: 1000, killsPerStage: 3, stages: ['parse', 'sink'], seed: 1, every: 0, everyEvents: 0, checkpointIntervalMs: 500 },
      input: { path: 'in', bytes: 1e6 }, expectedChecksum: 'abc', uninterrupted: { seconds: 1, checksumOk: true },
      kills, every: [], stages: s, monolith: [{ atMs: 300, killed: true, inputFractionRead: 0.42, resultsWritten: false }],
    });
    expect(md).toContain('| parse | 3 | 3 | 0 | 0 | 0 | 200 / 300 / 300 | 200 / 300 / 300 |');
    expect(md).toContain('| 300 | 42 % | no | run lost: start again from the beginning |');
    expect(md).not.toContain('made again');
    const late = renderChaosMarkdown({
      version: 1, startedAt: 'x', finishedAt: 'y',
      options: { events: 1000, killsPerStage: 1, stages: ['parse', 'sink'], seed: 1, every: 0, everyEvents: 0, checkpointIntervalMs: 500 },
      input: { path: 'in', bytes: 1e6 }, expectedChecksum: 'abc', uninterrupted: { seconds: 1, checksumOk: true },
      kills: [rec('parse', 100, { lateKills: 2 }), rec('sink', 100, { lateKills: 1 })], every: [], stages: s, monolith: [],
    });
    expect(late).toContain('3 kills came too late to interrupt anything (the run completed in its first attempt) and were made again, earlier in the run.');
  });
});
