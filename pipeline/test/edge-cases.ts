// Hand-written §4.2/§4.4 edge cases with their exact expected results.json (default rules) and
// dead letters. Used against the DuckDB oracle and, byte for byte, against the monolith.
import { ev } from './helpers.js';

export interface EdgeCase {
  name: string;
  input: string | Buffer;
  results: string;
  dead: [number, 'invalid_json' | 'invalid_event'][];
}

/** A group entry; `key` is written exactly as it must appear (already escaped). */
const g = (key: string, count: number, sum: string | number, min: number, max: number) =>
  `{"key":"${key}","count":${count},"sum":${sum},"min":${min},"max":${max}}`;
const w = (start: string, type: string, count: number, sum: string | number) =>
  `{"start":"${start}","type":"${type}","count":${count},"sum":${sum}}`;
const res = (c: [number, number, number, number, number], byType: string[], byUser: string[], byTag: string[], byWindow: string[]) =>
  `{"version":1,"counts":{"lines":${c[0]},"valid":${c[1]},"invalid":${c[2]},"dropped":${c[3]},"aggregated":${c[4]}},` +
  `"byType":[${byType.join(',')}],"byUser":[${byUser.join(',')}],"byTag":[${byTag.join(',')}],"byWindow":[${byWindow.join(',')}]}\n`;

const T0 = '2026-01-01T00:00:10Z';
const W0 = '2026-01-01T00:00:00Z';
const EMPTY = (lines: number) => res([lines, 0, lines, 0, 0], [], [], [], []);

function sized(total: number): string {
  // A valid event whose line is exactly `total` bytes long.
  const head = `{"ts":"${T0}","type":"click","user":"u1","value":1,"metadata":"`;
  return head + 'x'.repeat(total - head.length - 2) + '"}';
}

export const EDGE_CASES: EdgeCase[] = [
  {
    name: 'empty input',
    input: '',
    results: res([0, 0, 0, 0, 0], [], [], [], []),
    dead: [],
  },
  {
    name: 'CRLF line endings',
    input: ev(T0, 'click', 'u1', 5) + '\r\n' + ev('2026-01-01T00:00:20Z', 'click', 'u2', 150) + '\r\n',
    results: res([2, 2, 0, 0, 2], [g('click', 2, 155, 5, 150)], [g('u1', 1, 5, 5, 5), g('u2', 1, 150, 150, 150)],
      [g('tier=high', 1, 150, 150, 150), g('tier=low', 1, 5, 5, 5)], [w(W0, 'click', 2, 155)]),
    dead: [],
  },
  {
    name: 'blank lines are skipped but keep their line numbers',
    input: '\n  \t\r\n' + ev(T0, 'click', 'u1', 5) + '\n\nnope\n\t\n{"a":1}\n \n',
    results: res([3, 1, 2, 0, 1], [g('click', 1, 5, 5, 5)], [g('u1', 1, 5, 5, 5)], [g('tier=low', 1, 5, 5, 5)], [w(W0, 'click', 1, 5)]),
    dead: [[5, 'invalid_json'], [7, 'invalid_event']],
  },
  {
    name: 'last line without newline',
    input: ev(T0, 'click', 'u1', 5) + '\n' + ev(T0, 'search', 'u1', 6) + '\ngarbage',
    results: res([3, 2, 1, 0, 2], [g('click', 1, 5, 5, 5), g('search', 1, 6, 6, 6)], [g('u1', 2, 11, 5, 6)],
      [g('tier=low', 2, 11, 5, 6)], [w(W0, 'click', 1, 5), w(W0, 'search', 1, 6)]),
    dead: [[3, 'invalid_json']],
  },
  {
    name: 'unicode escapes and surrogate pairs are decoded',
    input: `{"ts":"${T0}","t\\u0079pe":"\\u0063lick","user":"u\\ud83d\\ude00","value":7}\n` + ev(T0, 'click', 'u😀', 8) + '\n',
    results: res([2, 2, 0, 0, 2], [g('click', 2, 15, 7, 8)], [g('u😀', 2, 15, 7, 8)], [g('tier=low', 2, 15, 7, 8)], [w(W0, 'click', 2, 15)]),
    dead: [],
  },
  {
    name: 'lone surrogate escapes are invalid JSON',
    input: [ev(T0, 'click', 'u\\ud800', 1), ev(T0, 'click', 'u\\udc00', 1), ev(T0, 'click', 'u\\ud800\\u0041', 1), ev(T0, 'click', 'u\\ude00\\ud83d', 1)].join('\n') + '\n',
    results: EMPTY(4),
    dead: [[1, 'invalid_json'], [2, 'invalid_json'], [3, 'invalid_json'], [4, 'invalid_json']],
  },
  {
    name: 'invalid UTF-8 is invalid JSON',
    input: Buffer.concat([
      ...[[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xc3], [0xf5, 0x80, 0x80, 0x80], [0xe2, 0x82]].map((bad) =>
        Buffer.concat([Buffer.from(`{"ts":"${T0}","type":"click","user":"u`), Buffer.from(bad), Buffer.from('","value":1}\n')]),
      ),
      Buffer.from(ev(T0, 'click', 'é', 2) + '\n'),
    ]),
    results: res([7, 1, 6, 0, 1], [g('click', 1, 2, 2, 2)], [g('é', 1, 2, 2, 2)], [g('tier=low', 1, 2, 2, 2)], [w(W0, 'click', 1, 2)]),
    dead: [[1, 'invalid_json'], [2, 'invalid_json'], [3, 'invalid_json'], [4, 'invalid_json'], [5, 'invalid_json'], [6, 'invalid_json']],
  },
  {
    name: 'ts offsets move events across days',
    input: [
      ev('2026-01-01T00:30:00+01:00', 'click', 'u1', 1),
      ev('2026-01-01T23:59:30-00:30', 'click', 'u1', 2),
      ev('2026-01-01T00:00:00+24:00', 'click', 'u1', 3),
      ev('2026-01-01T00:00:00+02:60', 'click', 'u1', 3),
      ev('2026-01-01T00:00:00-23:59', 'click', 'u1', 4),
    ].join('\n') + '\n',
    results: res([5, 3, 2, 0, 3], [g('click', 3, 7, 1, 4)], [g('u1', 3, 7, 1, 4)], [g('tier=low', 3, 7, 1, 4)],
      [w('2025-12-31T23:30:00Z', 'click', 1, 1), w('2026-01-01T23:59:00Z', 'click', 1, 4), w('2026-01-02T00:29:00Z', 'click', 1, 2)]),
    dead: [[3, 'invalid_event'], [4, 'invalid_event']],
  },
  {
    name: 'fractions of a second are floored before windowing',
    input: [
      ev('2026-01-01T00:00:59.999999999Z', 'click', 'u1', 1),
      ev('2026-01-01T00:01:00.1Z', 'click', 'u1', 2),
      ev('2026-01-01T00:01:00.1234567890Z', 'click', 'u1', 3),
      ev('2026-01-01T00:01:00.Z', 'click', 'u1', 3),
    ].join('\n') + '\n',
    results: res([4, 2, 2, 0, 2], [g('click', 2, 3, 1, 2)], [g('u1', 2, 3, 1, 2)], [g('tier=low', 2, 3, 1, 2)],
      [w(W0, 'click', 1, 1), w('2026-01-01T00:01:00Z', 'click', 1, 2)]),
    dead: [[3, 'invalid_event'], [4, 'invalid_event']],
  },
  {
    name: '1969 timestamps floor towards minus infinity',
    input: ev('1969-12-31T23:59:59.5Z', 'click', 'u1', 1) + '\n' + ev('1970-01-01T00:00:30+01:00', 'click', 'u1', 2) + '\n',
    results: res([2, 2, 0, 0, 2], [g('click', 2, 3, 1, 2)], [g('u1', 2, 3, 1, 2)], [g('tier=low', 2, 3, 1, 2)],
      [w('1969-12-31T23:00:00Z', 'click', 1, 2), w('1969-12-31T23:59:00Z', 'click', 1, 1)]),
    dead: [],
  },
  {
    name: 'leap days exist only in leap years',
    input: [
      ev('2024-02-29T12:00:00Z', 'click', 'u1', 1),
      ev('2000-02-29T00:00:00Z', 'click', 'u1', 2),
      ev('2025-02-29T00:00:00Z', 'click', 'u1', 3),
      ev('1900-02-29T00:00:00Z', 'click', 'u1', 4),
      ev('2026-02-29T00:00:00Z', 'click', 'u1', 5),
    ].join('\n') + '\n',
    results: res([5, 2, 3, 0, 2], [g('click', 2, 3, 1, 2)], [g('u1', 2, 3, 1, 2)], [g('tier=low', 2, 3, 1, 2)],
      [w('2000-02-29T00:00:00Z', 'click', 1, 2), w('2024-02-29T12:00:00Z', 'click', 1, 1)]),
    dead: [[3, 'invalid_event'], [4, 'invalid_event'], [5, 'invalid_event']],
  },
  {
    name: 'impossible dates and times',
    input: ['2026-02-30T10:00:00Z', '2026-13-01T10:00:00Z', '2026-01-05T24:00:00Z', '2026-01-05t10:00:00Z', '2026-01-05T10:00:00z',
      '2026-01-05T10:60:00Z', '2026-01-05T10:00:60Z', '2026-00-10T10:00:00Z', '2026-01-05T10:00:00', '2026-01-05 10:00:00Z']
      .map((ts) => ev(ts, 'click', 'u1', 1)).join('\n') + '\n',
    results: EMPTY(10),
    dead: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [n, 'invalid_event'] as [number, 'invalid_event']),
  },
  {
    name: 'int32 limits are valid, one beyond is not',
    input: [2147483647, -2147483648, '2147483648', '-2147483649'].map((v) => ev(T0, 'click', 'u1', v)).join('\n') + '\n',
    results: res([4, 2, 2, 0, 2], [g('click', 2, -1, -2147483648, 2147483647)], [g('u1', 2, -1, -2147483648, 2147483647)],
      [g('tier=high', 1, 2147483647, 2147483647, 2147483647), g('tier=low', 1, -2147483648, -2147483648, -2147483648)],
      [w(W0, 'click', 2, -1)]),
    dead: [[3, 'invalid_event'], [4, 'invalid_event']],
  },
  {
    name: 'sums beyond int32 are exact',
    input: [2147483647, 2147483647, 2147483647].map((v) => ev(T0, 'purchase', 'u1', v)).join('\n') + '\n',
    results: res([3, 3, 0, 0, 3], [g('purchase', 3, 6442450941, 2147483647, 2147483647)], [g('u1', 3, 6442450941, 2147483647, 2147483647)],
      [g('tier=high', 3, 6442450941, 2147483647, 2147483647)], [w(W0, 'purchase', 3, 6442450941)]),
    dead: [],
  },
  {
    name: 'negative zero is the integer 0',
    input: ev(T0, 'click', 'u1', '-0') + '\n',
    results: res([1, 1, 0, 0, 1], [g('click', 1, 0, 0, 0)], [g('u1', 1, 0, 0, 0)], [g('tier=low', 1, 0, 0, 0)], [w(W0, 'click', 1, 0)]),
    dead: [],
  },
  {
    name: 'values with fraction or exponent are not integers',
    input: ['42.0', '4.2e1', '1e400', '1E2', '42'].map((v) => ev(T0, 'click', 'u1', v)).join('\n') + '\n',
    results: res([5, 1, 4, 0, 1], [g('click', 1, 42, 42, 42)], [g('u1', 1, 42, 42, 42)], [g('tier=low', 1, 42, 42, 42)], [w(W0, 'click', 1, 42)]),
    dead: [[1, 'invalid_event'], [2, 'invalid_event'], [3, 'invalid_event'], [4, 'invalid_event']],
  },
  {
    name: 'malformed numbers are invalid JSON',
    input: ['042', '+1', '1.', '.5', '1e', '-', 'NaN', 'Infinity'].map((v) => ev(T0, 'click', 'u1', v)).join('\n') + '\n',
    results: EMPTY(8),
    dead: [1, 2, 3, 4, 5, 6, 7, 8].map((n) => [n, 'invalid_json'] as [number, 'invalid_json']),
  },
  {
    name: 'duplicate keys among the four fields',
    input: [
      ev(T0, 'click', 'u1', 1, `,"ts":"${T0}"`),
      ev(T0, 'click', 'u1', 1, ',"type":"click"'),
      ev(T0, 'click', 'u1', 1, ',"user":"u1"'),
      ev(T0, 'click', 'u1', 1, ',"value":1'),
      ev(T0, 'click', 'u1', 1, ',"\\u0076alue":1'),
      ev(T0, 'click', 'u1', 3, ',"metadata":{},"metadata":[1],"Value":"x"'),
    ].join('\n') + '\n',
    results: res([6, 1, 5, 0, 1], [g('click', 1, 3, 3, 3)], [g('u1', 1, 3, 3, 3)], [g('tier=low', 1, 3, 3, 3)], [w(W0, 'click', 1, 3)]),
    dead: [[1, 'invalid_event'], [2, 'invalid_event'], [3, 'invalid_event'], [4, 'invalid_event'], [5, 'invalid_event']],
  },
  {
    name: 'missing, mistyped and empty fields',
    input: [
      `{"type":"click","user":"u1","value":1}`,
      `{"ts":"${T0}","user":"u1","value":1}`,
      `{"ts":"${T0}","type":"click","value":1}`,
      `{"ts":"${T0}","type":"click","user":"u1"}`,
      ev(T0, 'click', 'u1', '"1"'),
      `{"ts":1767225610,"type":"click","user":"u1","value":1}`,
      ev(T0, '', 'u1', 1),
      ev(T0, 'click', '', 1),
      `{"ts":"${T0}","type":null,"user":"u1","value":1}`,
    ].join('\n') + '\n',
    results: EMPTY(9),
    dead: [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => [n, 'invalid_event'] as [number, 'invalid_event']),
  },
  {
    name: 'nesting depth 64 is valid, 65 is invalid JSON',
    input: [
      ev(T0, 'click', 'u1', 1, `,"metadata":${'['.repeat(63)}${']'.repeat(63)}`),
      ev(T0, 'click', 'u1', 1, `,"metadata":${'['.repeat(64)}${']'.repeat(64)}`),
      ev(T0, 'click', 'u1', 1, `,"metadata":${'{"a":'.repeat(63)}0${'}'.repeat(63)}`),
      ev(T0, 'click', 'u1', 1, `,"metadata":${'{"a":'.repeat(64)}0${'}'.repeat(64)}`),
      '['.repeat(64) + ']'.repeat(64),
      '['.repeat(65) + ']'.repeat(65),
    ].join('\n') + '\n',
    results: res([6, 2, 4, 0, 2], [g('click', 2, 2, 1, 1)], [g('u1', 2, 2, 1, 1)], [g('tier=low', 2, 2, 1, 1)], [w(W0, 'click', 2, 2)]),
    dead: [[2, 'invalid_json'], [4, 'invalid_json'], [5, 'invalid_event'], [6, 'invalid_json']],
  },
  {
    name: 'a line of exactly 1 MiB is valid, one byte more is invalid JSON',
    input: sized(1024 * 1024) + '\n' + sized(1024 * 1024 + 1) + '\n' + ev(T0, 'click', 'u1', 2) + '\n',
    results: res([3, 2, 1, 0, 2], [g('click', 2, 3, 1, 2)], [g('u1', 2, 3, 1, 2)], [g('tier=low', 2, 3, 1, 2)], [w(W0, 'click', 2, 3)]),
    dead: [[2, 'invalid_json']],
  },
  {
    name: 'the 1 MiB limit ignores a trailing CR; blank lines are blank at any length',
    input: sized(1024 * 1024) + '\r\n' + ' \t'.repeat(600 * 1024) + '\r\n' + sized(1024 * 1024 - 1) + '\r\r\n' +
      sized(1024 * 1024 + 1) + '\r\n' + ' '.repeat(2 * 1024 * 1024) + 'x\n',
    results: res([4, 2, 2, 0, 2], [g('click', 2, 2, 1, 1)], [g('u1', 2, 2, 1, 1)], [g('tier=low', 2, 2, 1, 1)], [w(W0, 'click', 2, 2)]),
    dead: [[4, 'invalid_json'], [5, 'invalid_json']],
  },
  {
    name: 'JSON that is not an object is an invalid event',
    input: ['[1]', '42', '"s"', 'null', 'true', '{}', ' [ ] '].join('\n') + '\n',
    results: EMPTY(7),
    dead: [1, 2, 3, 4, 5, 6, 7].map((n) => [n, 'invalid_event'] as [number, 'invalid_event']),
  },
  {
    name: 'broken JSON syntax',
    input: ['{', '{"ts":}', `{'ts':'x'}`, ev(T0, 'click', 'u1', 1) + ',', ev(T0, 'click', 'u1', 1) + ' x', ev(T0, 'cl\tick', 'u1', 1),
      ev(T0, 'cl\\xick', 'u1', 1), '\ufeff' + ev(T0, 'click', 'u1', 1), `{"ts":"${T0}" "type":"click"}`, 'nul'].join('\n') + '\n',
    results: EMPTY(10),
    dead: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => [n, 'invalid_json'] as [number, 'invalid_json']),
  },
  {
    name: 'output escapes only quote, backslash and control characters',
    input: ev(T0, 'a\\"b\\\\c\\/d', 'u\\u0001\\n\\t\\u001f\\u007f\u2028', 1) + '\n',
    results: res([1, 1, 0, 0, 1], [g('a\\"b\\\\c/d', 1, 1, 1, 1)], [g('u\\u0001\\u000a\\u0009\\u001f\x7f\u2028', 1, 1, 1, 1)],
      [g('tier=low', 1, 1, 1, 1)], [w(W0, 'a\\"b\\\\c/d', 1, 1)]),
    dead: [],
  },
  {
    name: 'keys sort by UTF-8 bytes, not UTF-16 units',
    input: ['Z', 'a', 'é', 'ｚ', '😀', 'aa'].map((u, i) => ev(T0, 'click', u, i)).join('\n') + '\n',
    results: res([6, 6, 0, 0, 6], [g('click', 6, 15, 0, 5)],
      [g('Z', 1, 0, 0, 0), g('a', 1, 1, 1, 1), g('aa', 1, 5, 5, 5), g('é', 1, 2, 2, 2), g('ｚ', 1, 3, 3, 3), g('😀', 1, 4, 4, 4)],
      [g('tier=low', 6, 15, 0, 5)], [w(W0, 'click', 6, 15)]),
    dead: [],
  },
  {
    name: 'years 0001 and 9999',
    input: ev('0001-01-01T00:00:30Z', 'click', 'u1', 1) + '\n' + ev('9999-12-31T23:59:59.9Z', 'click', 'u1', 2) + '\n',
    results: res([2, 2, 0, 0, 2], [g('click', 2, 3, 1, 2)], [g('u1', 2, 3, 1, 2)], [g('tier=low', 2, 3, 1, 2)],
      [w('0001-01-01T00:00:00Z', 'click', 1, 1), w('9999-12-31T23:59:00Z', 'click', 1, 2)]),
    dead: [],
  },
  {
    name: 'default rules drop views and tag by value',
    input: [ev(T0, 'view', 'u1', 500), ev(T0, 'click', 'u2', 100), ev(T0, 'click', 'u2', 99), ev('2026-01-01T00:01:00Z', 'search', 'u1', -5)].join('\n') + '\n',
    results: res([4, 4, 0, 1, 3], [g('click', 2, 199, 99, 100), g('search', 1, -5, -5, -5)], [g('u1', 1, -5, -5, -5), g('u2', 2, 199, 99, 100)],
      [g('tier=high', 1, 100, 100, 100), g('tier=low', 2, 94, -5, 99)],
      [w(W0, 'click', 2, 199), w('2026-01-01T00:01:00Z', 'search', 1, -5)]),
    dead: [],
  },
];
