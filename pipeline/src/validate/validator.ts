// Strict §4.2 event validator: a hand-written JSON scanner over raw bytes (RFC 8259 grammar,
// UTF-8 validation, depth and size limits) that also extracts and checks ts/type/user/value.
// Every implementation must agree with it on which lines are invalid and why.

export const MAX_LINE_BYTES = 1024 * 1024;
export const MAX_DEPTH = 64;

export type Reason = 'invalid_json' | 'invalid_event';

export interface ValidEvent {
  ok: true;
  /** Epoch seconds of `ts`, fraction floored (also before 1970). */
  epoch: number;
  type: string;
  user: string;
  value: number;
}

export interface InvalidLine {
  ok: false;
  reason: Reason;
  detail: string;
}

export type LineResult = ValidEvent | InvalidLine;

// Scanner state lives in module variables: this is the hot loop of the oracle.
let B: Buffer = Buffer.alloc(0);
let P = 0;
let E = 0;
let jsonError: string | null = null;
/** Set by scanString: whether the string just scanned held any escape. */
let sawEscape = false;

class JsonError extends Error {}

function fail(msg: string): never {
  jsonError = `${msg} at byte ${P}`;
  throw new JsonError(jsonError);
}

function skipWs(): void {
  let p = P;
  const e = E;
  const b = B;
  while (p < e) {
    const c = b[p];
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) p++;
    else break;
  }
  P = p;
}

/** Validates one UTF-8 sequence starting at P (first byte >= 0x80); advances P. */
function utf8Seq(): void {
  const c = B[P];
  let need: number;
  let min2 = 0x80;
  let max2 = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) min2 = 0xa0; // overlong
    else if (c === 0xed) max2 = 0x9f; // UTF-16 surrogates
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) min2 = 0x90; // overlong
    else if (c === 0xf4) max2 = 0x8f; // > U+10FFFF
  } else fail(`invalid UTF-8 byte 0x${c.toString(16)}`);
  if (P + need >= E) fail('truncated UTF-8 sequence');
  const c2 = B[P + 1];
  if (c2 < min2 || c2 > max2) fail('invalid UTF-8 sequence');
  for (let i = 2; i <= need; i++) {
    const ci = B[P + i];
    if (ci < 0x80 || ci > 0xbf) fail('invalid UTF-8 sequence');
  }
  P += need + 1;
}

function hex4(): number {
  if (P + 4 > E) fail('truncated \\u escape');
  let v = 0;
  for (let i = 0; i < 4; i++) {
    const c = B[P + i];
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (c >= 0x41 && c <= 0x46) d = c - 0x37;
    else fail('bad hex digit in \\u escape');
    v = (v << 4) | d;
  }
  P += 4;
  return v;
}

/**
 * Scans a string whose opening quote is at P. Returns the decoded string when `decode` is
 * true, otherwise null. P ends after the closing quote.
 */
function scanString(decode: boolean): string | null {
  P++; // opening quote
  const start = P;
  let parts: string[] | null = null;
  let segStart = P;
  sawEscape = false;
  const b = B;
  const e = E;
  for (;;) {
    // Fast path over plain ASCII with locals (module variables are slower to touch per byte).
    let p = P;
    while (p < e) {
      const c = b[p];
      if (c === 0x22 || c === 0x5c || c < 0x20 || c >= 0x80) break;
      p++;
    }
    P = p;
    if (P >= E) fail('unterminated string');
    const c = B[P];
    if (c === 0x22) {
      let out: string | null = null;
      if (decode) {
        if (parts === null) out = B.toString('utf8', start, P);
        else {
          parts.push(B.toString('utf8', segStart, P));
          out = parts.join('');
        }
      }
      P++;
      return out;
    }
    if (c === 0x5c) {
      sawEscape = true;
      if (decode) {
        if (parts === null) parts = [];
        parts.push(B.toString('utf8', segStart, P));
      }
      P++;
      if (P >= E) fail('unterminated escape');
      const e = B[P];
      P++;
      let ch = '';
      switch (e) {
        case 0x22: ch = '"'; break;
        case 0x5c: ch = '\\'; break;
        case 0x2f: ch = '/'; break;
        case 0x62: ch = '\b'; break;
        case 0x66: ch = '\f'; break;
        case 0x6e: ch = '\n'; break;
        case 0x72: ch = '\r'; break;
        case 0x74: ch = '\t'; break;
        case 0x75: {
          const u = hex4();
          if (u >= 0xd800 && u <= 0xdbff) {
            if (P + 6 <= E && B[P] === 0x5c && B[P + 1] === 0x75) {
              P += 2;
              const lo = hex4();
              if (lo < 0xdc00 || lo > 0xdfff) fail('lone high surrogate escape');
              ch = String.fromCharCode(u, lo);
            } else fail('lone high surrogate escape');
          } else if (u >= 0xdc00 && u <= 0xdfff) {
            fail('lone low surrogate escape');
          } else ch = String.fromCharCode(u);
          break;
        }
        default:
          P--;
          fail('invalid escape');
      }
      if (decode) parts!.push(ch);
      segStart = P;
      continue;
    }
    if (c < 0x20) fail('unescaped control character in string');
    if (c >= 0x80) {
      utf8Seq();
      continue;
    }
    P++;
  }
}

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** Scans a number at P; returns true when it is an integer literal (no fraction/exponent). */
function scanNumber(): boolean {
  let integer = true;
  if (B[P] === 0x2d) P++;
  if (P >= E) fail('truncated number');
  if (B[P] === 0x30) {
    P++;
  } else if (B[P] >= 0x31 && B[P] <= 0x39) {
    P++;
    while (P < E && isDigit(B[P])) P++;
  } else fail('invalid number');
  if (P < E && B[P] === 0x2e) {
    integer = false;
    P++;
    if (P >= E || !isDigit(B[P])) fail('invalid number fraction');
    while (P < E && isDigit(B[P])) P++;
  }
  if (P < E && (B[P] === 0x65 || B[P] === 0x45)) {
    integer = false;
    P++;
    if (P < E && (B[P] === 0x2b || B[P] === 0x2d)) P++;
    if (P >= E || !isDigit(B[P])) fail('invalid number exponent');
    while (P < E && isDigit(B[P])) P++;
  }
  return integer;
}

function expectLiteral(lit: string): void {
  if (P + lit.length > E) fail('invalid literal');
  for (let i = 0; i < lit.length; i++) {
    if (B[P + i] !== lit.charCodeAt(i)) fail('invalid literal');
  }
  P += lit.length;
}

/** Scans any JSON value at P (whitespace already skipped) at nesting `depth` (1-based). */
function scanValue(depth: number): void {
  if (P >= E) fail('unexpected end of input');
  const c = B[P];
  switch (c) {
    case 0x7b: // {
      if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
      P++;
      skipWs();
      if (P < E && B[P] === 0x7d) { P++; return; }
      for (;;) {
        if (P >= E || B[P] !== 0x22) fail('expected object key');
        scanString(false);
        skipWs();
        if (P >= E || B[P] !== 0x3a) fail("expected ':'");
        P++;
        skipWs();
        scanValue(depth + 1);
        skipWs();
        if (P >= E) fail('unterminated object');
        if (B[P] === 0x2c) { P++; skipWs(); continue; }
        if (B[P] === 0x7d) { P++; return; }
        fail("expected ',' or '}'");
      }
    case 0x5b: // [
      if (depth > MAX_DEPTH) fail(`nesting deeper than ${MAX_DEPTH}`);
      P++;
      skipWs();
      if (P < E && B[P] === 0x5d) { P++; return; }
      for (;;) {
        scanValue(depth + 1);
        skipWs();
        if (P >= E) fail('unterminated array');
        if (B[P] === 0x2c) { P++; skipWs(); continue; }
        if (B[P] === 0x5d) { P++; return; }
        fail("expected ',' or ']'");
      }
    case 0x22:
      scanString(false);
      return;
    case 0x74: expectLiteral('true'); return;
    case 0x66: expectLiteral('false'); return;
    case 0x6e: expectLiteral('null'); return;
    default:
      if (c === 0x2d || isDigit(c)) { scanNumber(); return; }
      fail('unexpected character');
  }
}

const KEY_TS = 1;
const KEY_TYPE = 2;
const KEY_USER = 3;
const KEY_VALUE = 4;
const FIELD_NAMES = ['', 'ts', 'type', 'user', 'value'];

/** Identifies the key whose opening quote is at P without decoding in the common case. */
function scanKey(): number {
  // Fast path: plain ASCII key with no escapes.
  const s = P + 1;
  let q = s;
  while (q < E && B[q] !== 0x22 && B[q] !== 0x5c && B[q] >= 0x20 && B[q] < 0x80) q++;
  if (q < E && B[q] === 0x22) {
    const len = q - s;
    P = q + 1;
    if (len === 2 && B[s] === 0x74 && B[s + 1] === 0x73) return KEY_TS;
    if (len === 4) {
      if (B[s] === 0x74 && B[s + 1] === 0x79 && B[s + 2] === 0x70 && B[s + 3] === 0x65) return KEY_TYPE;
      if (B[s] === 0x75 && B[s + 1] === 0x73 && B[s + 2] === 0x65 && B[s + 3] === 0x72) return KEY_USER;
    }
    if (len === 5 && B[s] === 0x76 && B[s + 1] === 0x61 && B[s + 2] === 0x6c && B[s + 3] === 0x75 && B[s + 4] === 0x65) return KEY_VALUE;
    return 0;
  }
  const k = scanString(true)!;
  const i = FIELD_NAMES.indexOf(k);
  return i > 0 ? i : 0;
}

/** Decodes again the (escaped) string whose opening quote is at q; P stays where it was. */
function reDecode(q: number): string {
  const end = P;
  P = q;
  const s = scanString(true)!;
  P = end;
  return s;
}

const INT32_MAX = 2147483647;
const INT32_MIN = -2147483648;

/**
 * Validates one line: bytes [start, end) of `buf`, without its `\n` and with a trailing `\r`
 * already removed. Length limits are the caller's job (it sees the raw line).
 */
export function validateLine(buf: Buffer, start: number, end: number): LineResult {
  B = buf;
  P = start;
  E = end;
  jsonError = null;
  let eventError: string | null = null;
  let tsBuf: Buffer | null = null;
  let tsStart = 0;
  let tsEnd = 0;
  let type: string | null = null;
  let user: string | null = null;
  let value = 0;
  let hasValue = false;
  try {
    skipWs();
    if (P < E && B[P] === 0x7b) {
      P++;
      skipWs();
      if (P < E && B[P] === 0x7d) P++;
      else {
        const seen = [false, false, false, false, false];
        for (;;) {
          if (P >= E || B[P] !== 0x22) fail('expected object key');
          const key = scanKey();
          skipWs();
          if (P >= E || B[P] !== 0x3a) fail("expected ':'");
          P++;
          skipWs();
          if (key !== 0) {
            if (seen[key] && eventError === null) eventError = `duplicate key "${FIELD_NAMES[key]}"`;
            seen[key] = true;
            const c = P < E ? B[P] : -1;
            if (key === KEY_VALUE) {
              if (c === 0x2d || (c >= 0x30 && c <= 0x39)) {
                const ns = P;
                const integer = scanNumber();
                if (!integer) {
                  if (eventError === null) eventError = `value ${B.toString('latin1', ns, Math.min(P, ns + 40))} is not an integer literal`;
                } else {
                  const neg = B[ns] === 0x2d;
                  const digits = P - ns - (neg ? 1 : 0);
                  let v = NaN;
                  if (digits <= 11) {
                    v = 0;
                    for (let q = neg ? ns + 1 : ns; q < P; q++) v = v * 10 + (B[q] - 48);
                    if (neg) v = -v;
                  }
                  if (!(v >= INT32_MIN && v <= INT32_MAX)) {
                    if (eventError === null) eventError = `value ${B.toString('latin1', ns, Math.min(P, ns + 40))} is outside int32`;
                  } else {
                    value = v === 0 ? 0 : v; // -0 → 0
                    hasValue = true;
                  }
                }
              } else {
                scanValue(2);
                if (eventError === null) eventError = 'value is not a number';
              }
            } else if (c === 0x22) {
              if (key === KEY_TS) {
                // Parse ts straight from the bytes; decode only when it holds escapes (rare).
                const q = P;
                scanString(false);
                if (!sawEscape) {
                  tsBuf = B;
                  tsStart = q + 1;
                  tsEnd = P - 1;
                } else {
                  const end = P;
                  P = q;
                  tsBuf = Buffer.from(scanString(true)!, 'utf8');
                  P = end;
                  tsStart = 0;
                  tsEnd = tsBuf.length;
                }
              } else {
                const q = P;
                scanString(false);
                const s = !sawEscape ? B.toString('utf8', q + 1, P - 1) : reDecode(q);
                if (key === KEY_TYPE) type = s;
                else user = s;
              }
            } else {
              scanValue(2);
              if (eventError === null) eventError = `${FIELD_NAMES[key]} is not a string`;
            }
          } else {
            scanValue(2);
          }
          skipWs();
          if (P >= E) fail('unterminated object');
          if (B[P] === 0x2c) { P++; skipWs(); continue; }
          if (B[P] === 0x7d) { P++; break; }
          fail("expected ',' or '}'");
        }
      }
      skipWs();
      if (P !== E) fail('trailing characters after JSON value');
    } else {
      scanValue(1);
      skipWs();
      if (P !== E) fail('trailing characters after JSON value');
      return { ok: false, reason: 'invalid_event', detail: 'not a JSON object' };
    }
  } catch (e) {
    if (e instanceof JsonError) return { ok: false, reason: 'invalid_json', detail: jsonError! };
    if (e instanceof RangeError) return { ok: false, reason: 'invalid_json', detail: 'nesting too deep' };
    throw e;
  }
  if (eventError !== null) return { ok: false, reason: 'invalid_event', detail: eventError };
  if (tsBuf === null) return { ok: false, reason: 'invalid_event', detail: 'missing field "ts"' };
  if (type === null) return { ok: false, reason: 'invalid_event', detail: 'missing field "type"' };
  if (user === null) return { ok: false, reason: 'invalid_event', detail: 'missing field "user"' };
  if (!hasValue) return { ok: false, reason: 'invalid_event', detail: 'missing field "value"' };
  if (type.length === 0) return { ok: false, reason: 'invalid_event', detail: 'empty "type"' };
  if (user.length === 0) return { ok: false, reason: 'invalid_event', detail: 'empty "user"' };
  const epoch = parseTsBytes(tsBuf, tsStart, tsEnd);
  if (epoch === null) {
    return { ok: false, reason: 'invalid_event', detail: `bad ts ${JSON.stringify(tsBuf.toString('utf8', tsStart, Math.min(tsEnd, tsStart + 60)))}` };
  }
  return { ok: true, epoch, type, user, value };
}

function d2(s: Uint8Array, i: number): number {
  const a = s[i] - 48;
  const b = s[i + 1] - 48;
  if (a < 0 || a > 9 || b < 0 || b > 9) return -1;
  return a * 10 + b;
}

export function isLeapYear(y: number): boolean {
  return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0);
}

const DAYS_IN_MONTH = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

/**
 * Parses `YYYY-MM-DDTHH:MM:SS[.f](Z|±HH:MM)` strictly and returns floored epoch seconds, or
 * null when the string does not match or names a date/time that does not exist.
 */
export function parseTs(ts: string): number | null {
  const b = Buffer.from(ts, 'utf8');
  return parseTsBytes(b, 0, b.length);
}

/** parseTs over the UTF-8 bytes [start, end) of `buf`. */
export function parseTsBytes(buf: Uint8Array, start: number, end: number): number | null {
  const n = end - start;
  if (n < 20) return null;
  const y1 = d2(buf, start + 0);
  const y2 = d2(buf, start + 2);
  if (y1 < 0 || y2 < 0) return null;
  const year = y1 * 100 + y2;
  if (buf[start + 4] !== 0x2d || buf[start + 7] !== 0x2d || buf[start + 10] !== 0x54) return null;
  if (buf[start + 13] !== 0x3a || buf[start + 16] !== 0x3a) return null;
  const month = d2(buf, start + 5);
  const day = d2(buf, start + 8);
  const hh = d2(buf, start + 11);
  const mi = d2(buf, start + 14);
  const ss = d2(buf, start + 17);
  if (month < 1 || month > 12 || day < 1) return null;
  const dim = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month];
  if (day > dim) return null;
  if (hh < 0 || hh > 23 || mi < 0 || mi > 59 || ss < 0 || ss > 59) return null;
  let i = 19;
  if (buf[start + i] === 0x2e) {
    i++;
    const fs = i;
    while (i < n) {
      const c = buf[start + i];
      if (c < 0x30 || c > 0x39) break;
      i++;
    }
    const fl = i - fs;
    if (fl < 1 || fl > 9) return null;
  }
  let offset = 0;
  const z = i < n ? buf[start + i] : -1;
  if (z === 0x5a) {
    if (i + 1 !== n) return null;
  } else if (z === 0x2b || z === 0x2d) {
    if (i + 6 !== n || buf[start + i + 3] !== 0x3a) return null;
    const oh = d2(buf, start + i + 1);
    const om = d2(buf, start + i + 4);
    if (oh < 0 || oh > 23 || om < 0 || om > 59) return null;
    offset = (oh * 3600 + om * 60) * (z === 0x2d ? -1 : 1);
  } else return null;
  return daysFromCivil(year, month, day) * 86400 + hh * 3600 + mi * 60 + ss - offset;
}
