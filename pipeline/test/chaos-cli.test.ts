// `pipeline chaos` end to end, small: one kill -9 of every stage (through the ChaosService of
// the headless control server), each run judged against the monolith, and the monolith killed
// once for contrast; then the report it writes.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../src/engines/monolith-runner.js';
import type { ChaosReport } from '../src/chaos/report.js';
import { tempDir } from './helpers.js';

const dir = tempDir('pipeline-chaos-test-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const CLI = ['--import', 'tsx', join(REPO_ROOT, 'pipeline/src/cli.ts'), 'chaos'];

describe('pipeline chaos', () => {
  it('kills every stage once mid-run and every run still ends identical, with nothing lost or duplicated', async () => {
    const child = spawn(process.execPath, [...CLI, '--events', '200000', '--kills-per-stage', '1', '--every', '0', '--monolith-kills', '1', '--seed', '7', '--out-dir', dir], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((res) => child.on('exit', res));
    expect(code, stderr.slice(-3000)).toBe(0);
    const [run] = readdirSync(dir);
    const report = JSON.parse(readFileSync(join(dir, run!, 'chaos.json'), 'utf8')) as ChaosReport;
    expect(report.kills.map((k) => k.stage).sort()).toEqual(['aggregate', 'ingest', 'parse', 'rules', 'sink']);
    for (const k of report.kills) {
      expect(k).toMatchObject({ checksumOk: true, deadLettersOk: true, lost: 0, duplicated: 0 });
      expect(k.error).toBeUndefined();
      expect(k.attempts).toBeGreaterThanOrEqual(2);
      expect(k.pid).toBeGreaterThan(0);
      expect(k.recoveryMs).not.toBeNull();
    }
    expect(report.monolith[0]).toMatchObject({ killed: true, resultsWritten: false });
    expect(readFileSync(join(dir, run!, 'chaos.md'), 'utf8')).toContain('| sink | 1 | 1 | 0 | 0 | 0 |');
  }, 600_000);

  it('rejects an unknown stage, naming it', () => {
    const r = spawnSync(process.execPath, [...CLI, '--stages', 'parse,spark'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('chaos: unknown stage "spark" in --stages (expected ingest, parse, rules, aggregate, sink)');
  });
});
