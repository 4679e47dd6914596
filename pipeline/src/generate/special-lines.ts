// The catalogue of invalid lines (every kind §4.2 names, each with the reason a strict validator
// must give) and of valid-but-tricky lines the generator mixes in when --invalid-ratio > 0.
import type { Rng } from './rng.js';

export interface SpecialKind {
  name: string;
  /** Expected verdict: an invalid reason, or 'valid' for tricky-but-valid lines. */
  expect: 'invalid_json' | 'invalid_event' | 'valid';
  /** Returns the line without its newline. */
  make(rng: Rng): string | Buffer;
}

const TS = '2026-03-14T15:09:26Z';
const META = ',"metadata":{"src":"web"}';

function line(ts: string, type: string, user: string, value: string, extra = META): string {
  return `{"ts":"${ts}","type":"${type}","user":"${user}","value":${value}${extra}}`;
}

function userOf(rng: Rng): string {
  return 'u' + String(rng.int(1000) + 1).padStart(6, '0');
}

function withTs(ts: string): (rng: Rng) => string {
  return (rng) => line(ts, 'click', userOf(rng), String(rng.int(200)));
}

function withValue(v: string): (rng: Rng) => string {
  return (rng) => line(TS, 'purchase', userOf(rng), v);
}

function nested(depth: number): string {
  return '['.repeat(depth) + ']'.repeat(depth);
}

const ONE_MIB = 1024 * 1024;

export const OVERSIZE_KIND = 'over_1mib';

export const INVALID_KINDS: SpecialKind[] = [
  // --- invalid_json -----------------------------------------------------------------------
  { name: 'not_json', expect: 'invalid_json', make: () => 'this is not json' },
  {
    name: 'truncated',
    expect: 'invalid_json',
    make: (rng) => {
      const l = line(TS, 'click', userOf(rng), '7');
      return l.slice(0, 1 + rng.int(l.length - 2));
    },
  },
  { name: 'nan', expect: 'invalid_json', make: withValue('NaN') },
  { name: 'infinity', expect: 'invalid_json', make: withValue('-Infinity') },
  { name: 'single_quotes', expect: 'invalid_json', make: () => `{'ts':'${TS}','type':'click','user':'u000001','value':1}` },
  { name: 'trailing_comma', expect: 'invalid_json', make: (rng) => line(TS, 'click', userOf(rng), '1', ',') },
  { name: 'leading_zero', expect: 'invalid_json', make: withValue('042') },
  { name: 'raw_control_char', expect: 'invalid_json', make: (rng) => line(TS, 'cl\tick', userOf(rng), '3') },
  { name: 'bad_escape', expect: 'invalid_json', make: (rng) => line(TS, 'cl\\xick', userOf(rng), '3') },
  { name: 'trailing_garbage', expect: 'invalid_json', make: (rng) => line(TS, 'click', userOf(rng), '3') + ' x' },
  { name: 'depth_65', expect: 'invalid_json', make: (rng) => line(TS, 'click', userOf(rng), '5', `,"metadata":${nested(64)}`) },
  {
    name: OVERSIZE_KIND,
    expect: 'invalid_json',
    make: (rng) => line(TS, 'click', userOf(rng), '5', `,"metadata":{"blob":"${'x'.repeat(ONE_MIB)}"}`),
  },
  { name: 'lone_high_surrogate', expect: 'invalid_json', make: () => line(TS, 'click', 'u\\ud800x', '1') },
  { name: 'lone_low_surrogate', expect: 'invalid_json', make: () => line(TS, 'click', 'u\\udc00', '1') },
  {
    name: 'invalid_utf8_ff',
    expect: 'invalid_json',
    make: () => Buffer.concat([Buffer.from(`{"ts":"${TS}","type":"cl`), Buffer.from([0xff]), Buffer.from('ick","user":"u000001","value":1}')]),
  },
  {
    name: 'invalid_utf8_overlong',
    expect: 'invalid_json',
    make: () => Buffer.concat([Buffer.from(`{"ts":"${TS}","type":"a`), Buffer.from([0xc0, 0xaf]), Buffer.from('","user":"u000001","value":1}')]),
  },
  {
    name: 'invalid_utf8_surrogate',
    expect: 'invalid_json',
    make: () => Buffer.concat([Buffer.from(`{"ts":"${TS}","type":"a","user":"u`), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","value":1}')]),
  },
  {
    name: 'invalid_utf8_truncated',
    expect: 'invalid_json',
    make: () => Buffer.concat([Buffer.from(`{"ts":"${TS}","type":"caf`), Buffer.from([0xc3]), Buffer.from('","user":"u000001","value":1}')]),
  },
  // --- invalid_event: JSON that is not an object ---------------------------------------------
  { name: 'array', expect: 'invalid_event', make: () => '[1,2,3]' },
  { name: 'number', expect: 'invalid_event', make: () => '42' },
  { name: 'string', expect: 'invalid_event', make: () => '"hello"' },
  { name: 'null', expect: 'invalid_event', make: () => 'null' },
  { name: 'empty_object', expect: 'invalid_event', make: () => '{}' },
  // --- invalid_event: missing or mistyped fields ---------------------------------------------
  { name: 'missing_ts', expect: 'invalid_event', make: (rng) => `{"type":"click","user":"${userOf(rng)}","value":1}` },
  { name: 'missing_type', expect: 'invalid_event', make: (rng) => `{"ts":"${TS}","user":"${userOf(rng)}","value":1}` },
  { name: 'missing_user', expect: 'invalid_event', make: () => `{"ts":"${TS}","type":"click","value":1}` },
  { name: 'missing_value', expect: 'invalid_event', make: (rng) => `{"ts":"${TS}","type":"click","user":"${userOf(rng)}"}` },
  { name: 'value_string', expect: 'invalid_event', make: withValue('"42"') },
  { name: 'value_null', expect: 'invalid_event', make: withValue('null') },
  { name: 'ts_number', expect: 'invalid_event', make: (rng) => `{"ts":1773500966,"type":"click","user":"${userOf(rng)}","value":1}` },
  { name: 'type_number', expect: 'invalid_event', make: (rng) => `{"ts":"${TS}","type":5,"user":"${userOf(rng)}","value":1}` },
  { name: 'user_object', expect: 'invalid_event', make: () => `{"ts":"${TS}","type":"click","user":{"id":1},"value":1}` },
  { name: 'empty_type', expect: 'invalid_event', make: (rng) => line(TS, '', userOf(rng), '1') },
  { name: 'empty_user', expect: 'invalid_event', make: () => line(TS, 'click', '', '1') },
  // --- invalid_event: timestamps that do not parse or do not exist ---------------------------
  { name: 'ts_feb_30', expect: 'invalid_event', make: withTs('2026-02-30T10:00:00Z') },
  { name: 'ts_month_13', expect: 'invalid_event', make: withTs('2026-13-01T10:00:00Z') },
  { name: 'ts_hour_24', expect: 'invalid_event', make: withTs('2026-01-05T24:00:00Z') },
  { name: 'ts_minute_60', expect: 'invalid_event', make: withTs('2026-01-05T10:60:00Z') },
  { name: 'ts_second_60', expect: 'invalid_event', make: withTs('2026-06-30T23:59:60Z') },
  { name: 'ts_lower_t', expect: 'invalid_event', make: withTs('2026-01-05t10:00:00Z') },
  { name: 'ts_lower_z', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00z') },
  { name: 'ts_not_leap', expect: 'invalid_event', make: withTs('2025-02-29T12:00:00Z') },
  { name: 'ts_1900_not_leap', expect: 'invalid_event', make: withTs('1900-02-29T12:00:00Z') },
  { name: 'ts_april_31', expect: 'invalid_event', make: withTs('2026-04-31T00:00:00Z') },
  { name: 'ts_day_00', expect: 'invalid_event', make: withTs('2026-04-00T00:00:00Z') },
  { name: 'ts_no_zone', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00') },
  { name: 'ts_offset_hour_24', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00+24:00') },
  { name: 'ts_offset_minute_60', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00+02:60') },
  { name: 'ts_offset_no_colon', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00+0200') },
  { name: 'ts_fraction_10', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00.1234567890Z') },
  { name: 'ts_fraction_empty', expect: 'invalid_event', make: withTs('2026-01-05T10:00:00.Z') },
  { name: 'ts_space', expect: 'invalid_event', make: withTs('2026-01-05 10:00:00Z') },
  { name: 'ts_short_month', expect: 'invalid_event', make: withTs('2026-1-05T10:00:00Z') },
  { name: 'ts_date_only', expect: 'invalid_event', make: withTs('2026-01-05') },
  // --- invalid_event: value not an int32 integer literal -------------------------------------
  { name: 'value_42.0', expect: 'invalid_event', make: withValue('42.0') },
  { name: 'value_4.2e1', expect: 'invalid_event', make: withValue('4.2e1') },
  { name: 'value_1e400', expect: 'invalid_event', make: withValue('1e400') },
  { name: 'value_1E2', expect: 'invalid_event', make: withValue('1E2') },
  { name: 'value_int32_max_plus_1', expect: 'invalid_event', make: withValue('2147483648') },
  { name: 'value_int32_min_minus_1', expect: 'invalid_event', make: withValue('-2147483649') },
  { name: 'value_huge_integer', expect: 'invalid_event', make: withValue('123456789012345678901234567890') },
  // --- invalid_event: duplicate keys among the four fields -----------------------------------
  { name: 'dup_ts', expect: 'invalid_event', make: (rng) => line(TS, 'click', userOf(rng), '1', `,"ts":"${TS}"`) },
  { name: 'dup_type', expect: 'invalid_event', make: (rng) => line(TS, 'click', userOf(rng), '1', ',"type":"view"') },
  { name: 'dup_user', expect: 'invalid_event', make: (rng) => line(TS, 'click', userOf(rng), '1', ',"user":"u000002"') },
  { name: 'dup_value', expect: 'invalid_event', make: (rng) => line(TS, 'click', userOf(rng), '1', ',"value":1') },
  { name: 'dup_escaped_key', expect: 'invalid_event', make: (rng) => line(TS, 'click', userOf(rng), '1', ',"t\\u0073":"2026-01-01T00:00:00Z"') },
];

export const TRICKY_KINDS: SpecialKind[] = [
  { name: 'unicode_escape_type', expect: 'valid', make: (rng) => line(TS, '\\u0063lick', userOf(rng), '4') },
  { name: 'escaped_keys', expect: 'valid', make: (rng) => `{"t\\u0073":"${TS}","\\u0074ype":"view","us\\u0065r":"${userOf(rng)}","valu\\u0065":9}` },
  { name: 'surrogate_pair_user', expect: 'valid', make: () => line(TS, 'click', 'u\\ud83d\\ude00', '11') },
  { name: 'raw_utf8', expect: 'valid', make: () => line('2026-07-01T08:00:00+02:00', 'vue_é', '用户42', '12') },
  { name: 'raw_emoji', expect: 'valid', make: () => line(TS, 'search', 'u😀', '13') },
  { name: 'needs_escaping', expect: 'valid', make: () => line(TS, 'we\\"ird\\\\type\\u0001\\n\\t', 'u\\u001fz', '14') },
  { name: 'solidus_escape', expect: 'valid', make: () => line(TS, 'a\\/b', 'u000003', '15') },
  { name: 'negative_zero', expect: 'valid', make: (rng) => line(TS, 'click', userOf(rng), '-0') },
  { name: 'int32_max', expect: 'valid', make: (rng) => line(TS, 'purchase', userOf(rng), '2147483647') },
  { name: 'int32_min', expect: 'valid', make: (rng) => line(TS, 'purchase', userOf(rng), '-2147483648') },
  { name: 'ts_1969', expect: 'valid', make: (rng) => line('1969-12-31T23:59:59.999Z', 'click', userOf(rng), '16') },
  { name: 'ts_1969_offset', expect: 'valid', make: (rng) => line('1969-07-20T20:17:40.5-05:00', 'view', userOf(rng), '17') },
  { name: 'ts_epoch', expect: 'valid', make: (rng) => line('1970-01-01T00:00:00+00:00', 'click', userOf(rng), '18') },
  { name: 'ts_leap_2024', expect: 'valid', make: (rng) => line('2024-02-29T23:59:59.123456789+23:59', 'signup', userOf(rng), '19') },
  { name: 'ts_leap_2000', expect: 'valid', make: (rng) => line('2000-02-29T00:00:00-23:59', 'signup', userOf(rng), '20') },
  { name: 'ts_new_year_offset', expect: 'valid', make: (rng) => line('2027-01-01T00:30:00+01:00', 'logout', userOf(rng), '21') },
  { name: 'whitespace', expect: 'valid', make: (rng) => ` { "ts" : "${TS}" ,\t"type":"click" , "user" : "${userOf(rng)}" , "value" : 22 } ` },
  { name: 'depth_64', expect: 'valid', make: (rng) => line(TS, 'click', userOf(rng), '23', `,"metadata":${nested(63)}`) },
  { name: 'ignored_extras', expect: 'valid', make: (rng) => line(TS, 'click', userOf(rng), '24', ',"metadata":1e400,"metadata":{"a":[true,false,null,-1.5e-3]},"TS":5') },
  { name: 'value_first', expect: 'valid', make: (rng) => `{"value":-25,"user":"${userOf(rng)}","type":"add_to_cart","ts":"${TS}"}` },
];

/** Valid lines that look blank-ish or carry CRLF are written by the generator itself. */
export const ALL_KINDS: SpecialKind[] = [...INVALID_KINDS, ...TRICKY_KINDS];
