// The C++ monolith must agree byte for byte with the DuckDB oracle: results.json identical and
// dead letters identical in line and reason, over seeds, sizes, distributions, invalid ratios and
// rules files. Skips (visibly) only when cpp/build/release/monolith cannot be built.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generate } from '../src/generate/generator.js';
import { CASES, RULES, TYPES } from './corpus.js';
import { BuildError, buildMonolith } from '../src/engines/monolith-runner.js';
import { EDGE_CASES } from './edge-cases.js';
import { fuzzLines } from './fuzz-lines.js';
import { monolithOnFile, oracleOnFile, tempDir } from './helpers.js';

let bin: string | null = null;
let skipReason = '';
try {
  bin = buildMonolith({ quiet: true });
} catch (e) {
  if (!(e instanceof BuildError)) throw e;
  skipReason = e.message.split('\n')[0];
}

const dir = tempDir('pipeline-cmp-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function compare(input: string, rules: unknown) {
  return async () => {
    const mono = monolithOnFile(bin!, input, rules);
    expect({ status: mono.status, stderr: mono.status === 0 ? '' : mono.stderr }).toEqual({ status: 0, stderr: '' });
    expect(mono.results).toMatch(/^\{"version":1,/);
    const ref = await oracleOnFile(input, rules);
    expect(mono.results).toBe(ref.results);
    expect(mono.deadLetters.map((d) => [d.line, d.reason])).toEqual(ref.deadLetters.map((d) => [d.line, d.reason]));
  };
}

describe.skipIf(bin === null)('monolith vs duckdb, byte for byte', () => {
  for (const c of CASES) {
    const name = `${c.events} lines, seed ${c.seed}, ${c.distribution}, invalid ${c.ratio}, rules ${c.rules}`;
    it(name, async () => {
      const input = join(dir, `${c.events}-${c.seed}-${c.distribution}-${c.ratio}.ndjson`);
      await generate({ events: c.events, seed: c.seed, users: c.users ?? 10_000, distribution: c.distribution, invalidRatio: c.ratio, types: TYPES, out: input });
      await compare(input, RULES[c.rules])();
    }, 60_000);
  }
  for (const seed of [1, 2, 3]) {
    it(`20k fuzzed lines, seed ${seed}`, async () => {
      const input = join(dir, `fuzz-${seed}.ndjson`);
      writeFileSync(input, fuzzLines(seed, 20000).join('\n') + '\n');
      await compare(input, undefined)();
    });
  }
  for (const e of EDGE_CASES) {
    it(`edge case: ${e.name}`, async () => {
      const input = join(dir, `edge-${EDGE_CASES.indexOf(e)}.ndjson`);
      writeFileSync(input, e.input);
      await compare(input, undefined)();
      for (const r of ['inPrefixOverride300', 'stringsAndHours']) await compare(input, RULES[r])();
    });
  }
});

if (bin === null) {
  describe('monolith vs duckdb', () => {
    it.skip(`SKIPPED: monolith unavailable — ${skipReason}`, () => {});
  });
}
