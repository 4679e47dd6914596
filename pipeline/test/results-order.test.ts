// §4.4 sorts keys by their UTF-8 bytes: compareUtf8 and the sorts built on it against the bytes;
// the byte-level byWindow writer against the plain rendering of §4.4.
import { describe, expect, it } from 'vitest';
import { compareUtf8, formatUtc, jsonString, resultsJson, sortWindows, typeJsonBytes, WindowJson, type Group, type WindowGroup } from '../src/results.js';

const byBytes = (a: string, b: string) => Math.sign(Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8')));

// ASCII, 2- and 3-byte characters, U+D7FF (the last unit below the surrogates), U+E000..U+FFFF
// (after every surrogate pair in UTF-16 order, before them in UTF-8), pairs, prefixes.
const KEYS = ['', 'a', 'ab', 'b', 'B', 'é', 'ü', '\u07ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1f600}', '\u{1f600}x', 'a\u{1f600}', 'a\uffff', 'a\ue000b', 'x\u{10ffff}'];

describe('compareUtf8', () => {
  it('agrees with the byte order of the UTF-8 encodings for every pair', () => {
    for (const a of KEYS) for (const b of KEYS) expect([a, b, compareUtf8(a, b)]).toEqual([a, b, byBytes(a, b)]);
  });

  it('orders a supplementary character after U+FFFF, unlike UTF-16 code units', () => {
    expect('\u{1f600}' < '\uffff').toBe(true); // the UTF-16 order
    expect(compareUtf8('\u{1f600}', '\uffff')).toBe(1);
  });

  it('sorts groups and windows by bytes', () => {
    const shuffled = [...KEYS].reverse();
    const groups: Group[] = shuffled.map((key, i) => ({ key, count: i, sum: i, min: i, max: i }));
    const json = JSON.parse(resultsJson({ lines: 0, valid: 0, invalid: 0, dropped: 0, aggregated: 0, byType: groups, byUser: [], byTag: [], byWindow: [] }));
    expect(json.byType.map((g: Group) => g.key)).toEqual([...KEYS].sort(byBytes));
    const ws = shuffled.flatMap((type) => [{ start: 7200, type, count: 1, sum: 1 }, { start: 3600, type, count: 1, sum: 1 }]);
    const sorted = sortWindows(ws).map((w) => `${w.start}|${w.type}`);
    const expected = [...KEYS].sort(byBytes);
    expect(sorted).toEqual([...expected.map((t) => `3600|${t}`), ...expected.map((t) => `7200|${t}`)]);
  });
});

describe('byWindow rendering', () => {
  // §4.4 written the plain way: one template string per window.
  const plain = (w: WindowGroup) => `{"start":"${formatUtc(w.start)}","type":${jsonString(w.type)},"count":${w.count},"sum":${w.sum}}`;
  const render = (byWindow: WindowGroup[]) => {
    const json = resultsJson({ lines: 0, valid: 0, invalid: 0, dropped: 0, aggregated: 0, byType: [], byUser: [], byTag: [], byWindow });
    return json.slice(json.indexOf('"byWindow":[') + 12, -3);
  };

  it('writes every window as the plain rendering does: times, escaped types, every kind of integer', () => {
    const types = ['click', 'a"b', 'back\\slash', 'tab\tnew\nline\u0001', 'ü', '\u{1f600}', '', '\ue000'];
    const starts = [0, -60, -86400, -86401, 59, 3599, 86399, 86400, 1_700_000_040, 253_402_300_799, 253_402_300_800, -62_135_596_800, -62_135_596_801];
    const figures: (number | bigint | string)[] = [0, 1, 9, 10, 99, 100, 999_999, -1, -10, -9_007_199_254_740_991, 9_007_199_254_740_991, 2n ** 60n, -(2n ** 63n), '9007199254740993', 1e15, 123_456_789_012_345];
    const ws: WindowGroup[] = [];
    let k = 0;
    for (const start of [...starts].sort((a, b) => a - b)) {
      for (const type of [...types].sort(compareUtf8)) {
        const count = figures[k % figures.length]!; // a count is never a decimal string
        ws.push({ start, type, count: typeof count === 'string' ? BigInt(count) : count, sum: figures[(k * 7 + 3) % figures.length]! });
        k++;
      }
    }
    expect(render(ws)).toBe(ws.map(plain).join(','));
    expect(render([])).toBe('');
  });

  it('ends chunks only between entries', () => {
    const ws = Array.from({ length: 500 }, (_, i) => ({ start: i * 60 - 7200, type: i % 3 ? 'click' : 'ü"', count: i, sum: -i * 1000 }));
    const w = new WindowJson(10, 1000);
    for (const g of ws) w.add(g.start, typeJsonBytes(g.type), g.count, g.sum);
    const chunks = w.chunks();
    expect(chunks.length).toBeGreaterThan(30);
    expect(chunks.map((c) => Buffer.from(c).toString('utf8')).join(',')).toBe(ws.map(plain).join(','));
    expect(new WindowJson().chunks()).toEqual([]);
  });

  it('grows its buffer for long types', () => {
    const ws = [{ start: 60, type: 'x'.repeat(5000), count: 1, sum: 2 }, { start: 120, type: 'é'.repeat(3000), count: 3, sum: -4 }];
    expect(render(ws)).toBe(ws.map(plain).join(','));
  });
});
