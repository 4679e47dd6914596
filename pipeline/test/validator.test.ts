// Unit tests of the byte-level validator and ts grammar.
import { describe, expect, it } from 'vitest';
import { parseTs, validateLine } from '../src/validate/validator.js';
import { frameBuffer } from '../src/validate/line-reader.js';
import { formatUtc, jsonString } from '../src/results.js';
import { fuzzLines } from './fuzz-lines.js';

function v(s: string | Buffer) {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return validateLine(b, 0, b.length);
}

describe('validateLine', () => {
  it('extracts the four fields decoded', () => {
    expect(v('{"value":-0,"user":"u\\u00e9","type":"a\\"b","ts":"2026-01-01T00:00:00.5+01:00","x":[1e400]}')).toEqual({
      ok: true, epoch: 1767222000, type: 'a"b', user: 'ué', value: 0,
    });
  });
  it('reports invalid_json before invalid_event', () => {
    // duplicate key (event error) then a syntax error later in the line
    const r = v('{"ts":"x","ts":"y",}');
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toBe('invalid_json');
  });
  it('names the problem in the detail', () => {
    const r = v('{"ts":"2026-01-01T00:00:00Z","type":"a","user":"b","value":2147483648}');
    expect(r).toMatchObject({ ok: false, reason: 'invalid_event' });
    if (!r.ok) expect(r.detail).toContain('2147483648');
  });
});

describe('parseTs', () => {
  it.each([
    ['1970-01-01T00:00:00Z', 0],
    ['1969-12-31T23:59:59.999999999Z', -1],
    ['2026-01-01T00:00:00+01:00', 1767222000],
    ['2024-02-29T00:00:00Z', 1709164800],
    ['0001-01-01T00:00:00Z', -62135596800],
    ['9999-12-31T23:59:59-23:59', 253402387139],
  ])('%s → %d', (ts, epoch) => {
    expect(parseTs(ts)).toBe(epoch);
  });
  it.each(['2026-02-29T00:00:00Z', '2026-01-01T00:00:00+1:00', '2026-01-01T00:00:00Z ', '2026-01-01T00:00:00.Z', '２026-01-01T00:00:00Z'])(
    'rejects %s',
    (ts) => expect(parseTs(ts)).toBeNull(),
  );
});

describe('line framing', () => {
  it('numbers physical lines, skips blank ones and strips one trailing CR', () => {
    const seen: [number, string][] = [];
    const n = frameBuffer(Buffer.from('a\r\n\n \t\r\nb\r\r\nc'), {
      line: (b, s, e, no) => seen.push([no, b.toString('latin1', s, e)]),
      oversize: (no) => seen.push([no, 'OVERSIZE']),
    });
    expect(n).toBe(5);
    expect(seen).toEqual([[1, 'a'], [4, 'b\r'], [5, 'c']]);
  });
});

describe('output formatting', () => {
  it('escapes only quote, backslash and C0 controls, lower-case hex', () => {
    expect(jsonString('a"b\\c\u0000\u001f\u007f/é😀')).toBe('"a\\"b\\\\c\\u0000\\u001f\u007f/é😀"');
  });
  it('formats window starts in UTC, also before 1970', () => {
    expect(formatUtc(-60)).toBe('1969-12-31T23:59:00Z');
    expect(formatUtc(951782400)).toBe('2000-02-29T00:00:00Z');
  });
});

describe('differential check against JSON.parse', () => {
  it('agrees on JSON validity for 20k mutated lines (where JSON.parse applies)', () => {
    let checked = 0;
    for (const line of fuzzLines(11, 20000)) {
      if (/\\u[dD][89a-fA-F]/.test(line)) continue; // JSON.parse accepts lone surrogates; §4.2 does not
      let parses = true;
      try { JSON.parse(line); } catch { parses = false; }
      const r = v(line);
      const json = !(r.ok === false && r.reason === 'invalid_json');
      expect({ line, json }).toEqual({ line, json: parses });
      checked++;
    }
    expect(checked).toBeGreaterThan(10000);
  });
});
