// Rules files (§4.3): strict loading with errors that name the rule and value, and the CLI's
// exit code 2 before any event is read.
import { spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { checkRules, loadRules, RulesError } from '../src/rules.js';
import { ev, oracle, tempDir } from './helpers.js';

const dir = tempDir('pipeline-rules-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function err(raw: unknown): string {
  try {
    checkRules(raw);
  } catch (e) {
    expect(e).toBeInstanceOf(RulesError);
    return (e as Error).message;
  }
  throw new Error('expected a RulesError');
}

describe('rules loading', () => {
  it.each([
    [{ drop: [{ field: 'type', op: 'like', value: 'x' }] }, /drop\[0\].*unknown op "like"/],
    [{ drop: [{ field: 'ts', op: 'eq', value: 'x' }] }, /drop\[0\].*unknown field "ts"/],
    [{ drop: [{ field: 'type', op: 'eq', value: 5 }] }, /drop\[0\].*"type" needs a string, got 5/],
    [{ drop: [{}, { field: 'user', op: 'eq', value: null }] }, /drop\[0\]/],
    [{ drop: [{ field: 'type', op: 'eq', value: 'a' }, { field: 'user', op: 'eq', value: null }] }, /drop\[1\].*"user" needs a string, got null/],
    [{ drop: [{ field: 'value', op: 'gt', value: '100' }] }, /drop\[0\].*"value" needs an integer, got "100"/],
    [{ drop: [{ field: 'value', op: 'gt', value: 1.5 }] }, /drop\[0\].*needs an integer, got 1.5/],
    [{ drop: [{ field: 'type', op: 'in', value: 'click' }] }, /drop\[0\].*"in" needs an array, got "click"/],
    [{ drop: [{ field: 'value', op: 'in', value: [1, 'two'] }] }, /drop\[0\].*needs an integer, got "two"/],
    [{ drop: [{ field: 'value', op: 'prefix', value: '1' }] }, /drop\[0\].*"prefix" works on strings only/],
    [{ drop: [{ field: 'user', op: 'prefix', value: 1 }] }, /drop\[0\].*"prefix" needs a string, got 1/],
    [{ tag: [{ when: { field: 'value', op: 'gte', value: 1 }, set: { tier: 1 } }] }, /tag\[0\].*tag "tier" needs a string value, got 1/],
    [{ tag: [{ when: { field: 'value', op: 'gte', value: 1 }, set: { a: 'x' } }, { when: { field: 'type', op: 'eq', value: true }, set: {} }] }, /tag\[1\].*got true/],
    [{ tag: [{ when: { field: 'value', op: 'gte', value: 1 } }] }, /tag\[0\].*"set" must be an object/],
    [{ windowSeconds: 0 }, /windowSeconds.*positive integer, got 0/],
    [{ windowSeconds: '60' }, /windowSeconds.*got "60"/],
    [{ dorp: [] }, /unknown key "dorp"/],
    [[], /rules must be a JSON object/],
  ])('rejects %j', (raw, pattern) => {
    expect(err(raw)).toMatch(pattern);
  });

  it('rejects a file that is not JSON, naming the file', () => {
    const p = join(dir, 'bad.json');
    writeFileSync(p, '{"drop": [');
    expect(() => loadRules(p)).toThrow(/bad\.json is not valid JSON/);
  });

  it('accepts the default rule set written out, with missing sections defaulting', () => {
    expect(checkRules({ windowSeconds: 300 })).toEqual({ drop: [], tag: [], windowSeconds: 300 });
  });

  it('a later tag rule overrides an earlier one for the same name', async () => {
    const out = await oracle(ev('2026-01-01T00:00:00Z', 'click', 'u1', 150) + '\n', {
      tag: [
        { when: { field: 'value', op: 'gte', value: 100 }, set: { tier: 'high', seen: 'yes' } },
        { when: { field: 'type', op: 'in', value: ['click', 'view'] }, set: { tier: 'clicky' } },
        { when: { field: 'user', op: 'prefix', value: 'x' }, set: { tier: 'never' } },
      ],
    });
    expect(out.results).toContain('"byTag":[{"key":"seen=yes","count":1,"sum":150,"min":150,"max":150},{"key":"tier=clicky","count":1,"sum":150,"min":150,"max":150}]');
  });

  it('string comparisons use UTF-8 byte order', async () => {
    const input = ['a', 'z', 'é', '😀', 'ｚ'].map((t, i) => ev('2026-01-01T00:00:00Z', t, 'u1', i)).join('\n') + '\n';
    const out = await oracle(input, { drop: [{ field: 'type', op: 'gt', value: 'ｚ' }], windowSeconds: 300 });
    // only "😀" (F0…) sorts above "ｚ" (EF BD 9A) in bytes; in UTF-16 it would sort below
    expect(out.results).toContain('"dropped":1,');
    expect(out.results).not.toContain('😀');
  });
});

describe('pipeline CLI errors', () => {
  const cli = (...args: string[]) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'pipeline/src/cli.ts'), ...args], { cwd: ROOT, encoding: 'utf8' });

  it('exits 2 on a bad rules file before reading events', () => {
    const rules = join(dir, 'r.json');
    writeFileSync(rules, JSON.stringify({ drop: [{ field: 'type', op: 'eq', value: 7 }] }));
    const out = join(dir, 'out-rules');
    const r = cli('run', '--mode', 'duckdb', '--input', join(dir, 'does-not-exist.ndjson'), '--rules', rules, '--out', out);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/drop\[0\].*needs a string, got 7/);
    expect(existsSync(join(out, 'results.json'))).toBe(false);
  });

  it('exits 2 naming an unknown mode, option or bad value', () => {
    let r = cli('run', '--mode', 'turbo', '--input', 'x', '--out', 'y');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('"turbo"');
    r = cli('generate', '--events', 'ten', '--seed', '1', '--out', join(dir, 'x'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--events must be an integer, got "ten"');
    r = cli('generate', '--events', '1', '--seed', '1', '--out', join(dir, 'x'), '--colour', 'red');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown option --colour');
  });

  it('duckdb-sql refuses input with invalid lines, pointing to the oracle', () => {
    const input = join(dir, 'bad.ndjson');
    writeFileSync(input, ev('2026-01-01T00:00:00Z', 'click', 'u1', 1) + '\nnot json\n');
    const r = cli('run', '--mode', 'duckdb-sql', '--input', input, '--out', join(dir, 'out-sql'));
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('mode duckdb-sql needs valid-only input');
  });

  it('split: names a missing input, and missing stages behind an explicit --control-url', () => {
    let r = cli('run', '--mode', 'split', '--input', 'does-not-exist.ndjson', '--out', 'y');
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/cannot read --input .*does-not-exist\.ndjson: no such file/);
    r = cli('run', '--mode', 'split', '--input', 'package.json', '--out', tmpdir() + '/split-cli-out', '--control-url', 'http://127.0.0.1:9');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('pipeline: --control-url http://127.0.0.1:9: split stages missing: all (no control server answers there)');
  });

  it('prints usage with --help', () => {
    const r = cli('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('pnpm pipeline generate');
  });
});
