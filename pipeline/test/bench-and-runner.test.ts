// Smoke tests of the CLI's monolith runner and the bench command (small inputs; numbers are not
// asserted, only that the reports exist and the checksums of all modes agree).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BuildError, buildMonolith, REPO_ROOT } from '../src/engines/monolith-runner.js';
import { ev, tempDir } from './helpers.js';

let monolithReady = true;
let why = '';
try {
  buildMonolith({ quiet: true });
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  monolithReady = false;
  why = e.message.split('\n')[0];
}
if (!monolithReady) console.warn(`monolith unavailable, monolith parts of these tests are skipped: ${why}`);

const dir = tempDir('pipeline-bench-test-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cli = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'pipeline/src/cli.ts'), ...args], { cwd: REPO_ROOT, encoding: 'utf8' });

describe.skipIf(!monolithReady)('run --mode monolith', () => {
  it('writes the three files and agrees with duckdb', () => {
    const input = join(dir, 'in.ndjson');
    writeFileSync(input, [ev('2026-01-01T00:00:00Z', 'click', 'u1', 5), 'oops', ev('2026-01-01T00:00:00Z', 'view', 'u2', 500)].join('\n'));
    const a = cli('run', '--mode', 'monolith', '--input', input, '--out', join(dir, 'm'), '--threads', '2', '--batch-size', '2', '--partitions', '3');
    expect(a.status).toBe(0);
    const b = cli('run', '--mode', 'duckdb', '--input', input, '--out', join(dir, 'd'));
    expect(b.status).toBe(0);
    for (const f of ['results.json', 'dead-letters.ndjson', 'metrics.json']) expect(existsSync(join(dir, 'm', f))).toBe(true);
    expect(readFileSync(join(dir, 'm', 'results.json'), 'utf8')).toBe(readFileSync(join(dir, 'd', 'results.json'), 'utf8'));
  });

  it('propagates the exit code 2 of a bad rules file', () => {
    const rules = join(dir, 'bad-rules.json');
    writeFileSync(rules, '{"drop":[{"field":"value","op":"eq","value":"x"}]}');
    const r = cli('run', '--mode', 'monolith', '--input', join(dir, 'in.ndjson'), '--rules', rules, '--out', join(dir, 'm2'));
    expect(r.status).toBe(2);
  });
});

describe('bench', () => {
  it('writes bench.md and bench.json with agreeing checksums', () => {
    const out = join(dir, 'bench');
    const modes = monolithReady ? 'duckdb,monolith' : 'duckdb';
    const history = join(dir, 'history');
    const r = cli('bench', '--modes', modes, '--events', '3000', '--runs', '1', '--warmup', '1', '--seed', '424242', '--out-dir', out, '--history-dir', history);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8'));
    expect(report.checksumsAgree).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.origin).toBe('cli');
    expect(report.summaries.map((s: { mode: string }) => s.mode)).toEqual(monolithReady ? ['duckdb', 'duckdb-sql', 'monolith'] : ['duckdb', 'duckdb-sql']);
    // Warm-ups are recorded but not counted; every run has its processes' CPU and RSS.
    expect(report.runs.filter((x: { warmup: boolean }) => x.warmup)).toHaveLength(report.summaries.length);
    expect(report.summaries.every((s: { runs: number }) => s.runs === 1)).toBe(true);
    expect(report.processes.every((p: { peakRssMB: number }) => p.peakRssMB > 0)).toBe(true);
    const md = readFileSync(join(out, 'bench.md'), 'utf8');
    expect(md).toContain('duckdb-sql (plain SQL on valid-only input)');
    // The same report is in the history, where the dashboard lists it.
    const entry = JSON.parse(readFileSync(join(history, `${report.id}.json`), 'utf8'));
    expect(entry).toMatchObject({ id: report.id, status: 'passed', origin: 'cli', markdown: md });
    expect(entry.report).toEqual(report);
  }, 60_000);

  it('names a bad --scaling and a bad --id', () => {
    const a = cli('bench', '--modes', 'duckdb', '--scaling', '1,2', '--events', '10');
    expect(a.status).toBe(2);
    expect(a.stderr).toContain('--scaling sweeps the monolith and the split');
    const b = cli('bench', '--modes', 'duckdb', '--id', '../x', '--events', '10');
    expect(b.status).toBe(2);
    expect(b.stderr).toContain('--id must look like');
  });
});
