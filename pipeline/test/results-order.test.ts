// §4.4 sorts keys by their UTF-8 bytes: compareUtf8 and the sorts built on it against the bytes.
import { describe, expect, it } from 'vitest';
import { compareUtf8, resultsJson, sortWindows, type Group } from '../src/results.js';

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
