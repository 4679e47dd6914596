// Generator: reproducibility, and every special line kind gets the verdict it is meant to get.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../src/generate/generator.js';
import { INVALID_KINDS, TRICKY_KINDS } from '../src/generate/special-lines.js';
import { Rng } from '../src/generate/rng.js';
import { validateLine, MAX_LINE_BYTES } from '../src/validate/validator.js';
import { oracleOnFile, tempDir } from './helpers.js';

const dir = tempDir('pipeline-gen-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function gen(name: string, o: Partial<Parameters<typeof generate>[0]> = {}) {
  const out = join(dir, name);
  const stats = await generate({ events: 5000, seed: 1, users: 100, distribution: 'uniform', invalidRatio: 0, types: ['click', 'view', 'purchase'], out, ...o });
  return { out, stats, bytes: readFileSync(out) };
}

function verdict(line: string | Buffer): string {
  const b = typeof line === 'string' ? Buffer.from(line) : line;
  if (b.length > MAX_LINE_BYTES) return 'invalid_json';
  const r = validateLine(b, 0, b.length);
  return r.ok ? 'valid' : r.reason;
}

describe('generator', () => {
  it('is reproducible: same arguments give the same bytes', async () => {
    for (const distribution of ['uniform', 'zipf', 'burst'] as const) {
      const a = await gen(`a-${distribution}`, { distribution, invalidRatio: 0.1 });
      const b = await gen(`b-${distribution}`, { distribution, invalidRatio: 0.1 });
      expect(a.bytes.equals(b.bytes)).toBe(true);
    }
  });

  it('spreads event times over --days days from 2026-01-01 (default 7), bounding the windows', async () => {
    const dayOf = (bytes: Buffer) => {
      const days = new Set<string>();
      for (const l of bytes.toString('utf8').split('\n')) {
        const m = /"ts":"(2026-\d\d-\d\d)T/.exec(l);
        if (m) days.add(m[1]);
      }
      return [...days].sort();
    };
    // A few special timestamps (1969, leap days) are mixed in on purpose; regular ones are 2026.
    expect(dayOf((await gen('days1.ndjson', { days: 1 })).bytes).filter((d) => d !== '2026-01-01')).toEqual([]);
    const week = dayOf((await gen('week.ndjson')).bytes);
    expect(week).toEqual(['2026-01-01', '2026-01-02', '2026-01-03', '2026-01-04', '2026-01-05', '2026-01-06', '2026-01-07']);
    await expect(gen('bad.ndjson', { days: 0 })).rejects.toThrow(/days must be an integer in 1..365, got 0/);
  });

  it('differs for different seeds', async () => {
    const a = await gen('s1', { seed: 1 });
    const b = await gen('s2', { seed: 2 });
    expect(a.bytes.equals(b.bytes)).toBe(false);
  });

  it('writes exactly --events non-blank lines, all valid at ratio 0', async () => {
    const { out } = await gen('valid', { events: 3000, distribution: 'zipf' });
    const r = await oracleOnFile(out);
    expect(r.results).toMatch(/^\{"version":1,"counts":\{"lines":3000,"valid":3000,"invalid":0,/);
  });

  it('mixes in the requested share of invalid lines', async () => {
    const { out, stats } = await gen('mixed', { events: 20000, invalidRatio: 0.1, distribution: 'burst' });
    expect(stats.invalid).toBeGreaterThan(1700);
    expect(stats.invalid).toBeLessThan(2300);
    const r = await oracleOnFile(out);
    expect(r.results).toContain(`"lines":20000,"valid":${20000 - stats.invalid},"invalid":${stats.invalid},`);
    expect(r.deadLetters.length).toBe(stats.invalid);
  });

  it('uses zipf-skewed users', async () => {
    const { bytes } = await gen('zipf', { events: 20000, distribution: 'zipf', users: 1000 });
    const top = bytes.toString().split('"user":"u000001"').length - 1;
    expect(top).toBeGreaterThan(20000 * 0.05);
  });
});

describe('special line kinds', () => {
  const rng = new Rng(99);
  for (const k of INVALID_KINDS) {
    it(`invalid kind ${k.name} is ${k.expect}`, () => {
      expect(verdict(k.make(rng))).toBe(k.expect);
    });
  }
  for (const k of TRICKY_KINDS) {
    it(`tricky kind ${k.name} is valid`, () => {
      expect(verdict(k.make(rng))).toBe('valid');
    });
  }
  it('truncated lines are invalid at every cut', () => {
    const kind = INVALID_KINDS.find((k) => k.name === 'truncated')!;
    const r = new Rng(5);
    for (let i = 0; i < 200; i++) expect(verdict(kind.make(r))).toBe('invalid_json');
  });
  it('a generated file cycles through every invalid kind', async () => {
    const { out, stats } = await gen('all-kinds', { events: INVALID_KINDS.length * 3, invalidRatio: 1 });
    expect(stats.invalid).toBe(INVALID_KINDS.length * 3);
    const r = await oracleOnFile(out);
    const expected = [0, 1, 2].flatMap(() => INVALID_KINDS.map((k) => k.expect));
    // the oversize kind is only written once per 1000 lines at this ratio; its slot goes to the next kind
    const reasons = r.deadLetters.map((d) => d.reason);
    expect(reasons.length).toBe(expected.length);
    expect(reasons.slice(0, INVALID_KINDS.length)).toEqual(INVALID_KINDS.map((k) => k.expect));
  });
});
