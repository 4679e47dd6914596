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
    const r = cli('bench', '--modes', modes, '--events', '3000', '--runs', '1', '--seed', '424242', '--out-dir', out);
    expect(r.status, r.stderr).toBe(0);
    const report = JSON.parse(readFileSync(join(out, 'bench.json'), 'utf8'));
    expect(report.checksumsAgree).toBe(true);
    expect(report.machine.cores).toBeGreaterThan(0);
    expect(report.summaries.map((s: { mode: string }) => s.mode)).toEqual(monolithReady ? ['duckdb', 'duckdb-sql', 'monolith'] : ['duckdb', 'duckdb-sql']);
    expect(readFileSync(join(out, 'bench.md'), 'utf8')).toContain('duckdb-sql (plain SQL on valid-only input)');
  }, 60_000);
});
