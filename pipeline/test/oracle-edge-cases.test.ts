// The DuckDB oracle on hand-written §4.2 edge cases: exact results.json and dead letters.
import { describe, expect, it } from 'vitest';
import { EDGE_CASES } from './edge-cases.js';
import { oracle } from './helpers.js';

describe('duckdb oracle on edge cases', () => {
  for (const c of EDGE_CASES) {
    it(c.name, async () => {
      const out = await oracle(c.input);
      expect(out.results).toBe(c.results);
      expect(out.deadLetters.map((d) => [d.line, d.reason])).toEqual(c.dead);
    });
  }
});
