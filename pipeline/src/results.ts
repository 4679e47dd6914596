// Canonical §4.4 output: results.json (exact key order, minimal escaping, byte-order sorting)
// and dead-letters.ndjson. Every engine's output must match these bytes.

export interface Group {
  key: string;
  count: bigint | number;
  /** Exact integer; a decimal string when it may exceed 2^53. */
  sum: bigint | number | string;
  min: bigint | number;
  max: bigint | number;
}

export interface WindowGroup {
  /** Window start, epoch seconds. */
  start: number;
  type: string;
  count: bigint | number;
  sum: bigint | number | string;
}

/** What an engine's aggregation produces. */
export interface Aggregates {
  aggregated: number;
  byType: Group[];
  byUser: Group[];
  byTag: Group[];
  byWindow: WindowGroup[];
  /** Pre-rendered, sorted contents of the byWindow array; used instead of byWindow when set. */
  byWindowJson?: string[];
}

export interface Results extends Aggregates {
  lines: number;
  valid: number;
  invalid: number;
  dropped: number;
}

export interface DeadLetter {
  line: number;
  reason: 'invalid_json' | 'invalid_event';
  detail: string;
}

const HEX = '0123456789abcdef';

/** JSON string with only `"`, `\` and chars below U+0020 escaped (as \u00xx). */
export function jsonString(s: string): string {
  let out = '"';
  let seg = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) {
      out += s.slice(seg, i);
      if (c === 0x22) out += '\\"';
      else if (c === 0x5c) out += '\\\\';
      else out += '\\u00' + HEX[c >> 4] + HEX[c & 15];
      seg = i + 1;
    }
  }
  return out + s.slice(seg) + '"';
}

/**
 * Byte order of UTF-8 encodings (not UTF-16 code unit order): the sign of the comparison.
 * Below U+D800 a code unit is its code point, and UTF-8 keeps code point order, so the first
 * differing unit decides; only a difference at or above it (a surrogate, or U+E000..U+FFFF,
 * which UTF-16 orders before the surrogate pairs of higher code points) needs the bytes.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    if (x < 0xd800 && y < 0xd800) return x < y ? -1 : 1;
    return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
  }
  return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
}

function sortByKey(groups: Group[]): Group[] {
  return [...groups].sort((x, y) => compareUtf8(x.key, y.key));
}

export function sortWindows(ws: WindowGroup[]): WindowGroup[] {
  if (isSortedWindows(ws)) return ws; // engines may sort already; checking is O(n)
  return [...ws].sort((x, y) => x.start - y.start || compareUtf8(x.type, y.type));
}

function isSortedWindows(ws: WindowGroup[]): boolean {
  for (let i = 1; i < ws.length; i++) {
    const a = ws[i - 1];
    const b = ws[i];
    if (a.start < b.start) continue;
    if (a.start > b.start || compareUtf8(a.type, b.type) >= 0) return false;
  }
  return true;
}

const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

/** Epoch seconds → `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian, UTC). */
export function formatUtc(epoch: number): string {
  const days = Math.floor(epoch / 86400);
  const sod = epoch - days * 86400;
  // civil_from_days (Howard Hinnant)
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  const ys = y < 0 ? '-' + String(-y).padStart(4, '0') : String(y).padStart(4, '0');
  const hh = Math.floor(sod / 3600);
  const mi = Math.floor((sod % 3600) / 60);
  const ss = sod % 60;
  return `${ys}-${TWO[m]}-${TWO[d]}T${TWO[hh]}:${TWO[mi]}:${TWO[ss]}Z`;
}

function groupsJson(gs: Group[]): string {
  return '[' + sortByKey(gs).map((g) => `{"key":${jsonString(g.key)},"count":${g.count},"sum":${g.sum},"min":${g.min},"max":${g.max}}`).join(',') + ']';
}

export function resultsJson(r: Results): string {
  return resultsParts(r).join('');
}

/** results.json as consecutive parts (the byWindow array can be very large). */
export function resultsParts(r: Results): string[] {
  const head =
    `{"version":1,"counts":{"lines":${r.lines},"valid":${r.valid},"invalid":${r.invalid},"dropped":${r.dropped},"aggregated":${r.aggregated}},` +
    `"byType":${groupsJson(r.byType)},"byUser":${groupsJson(r.byUser)},"byTag":${groupsJson(r.byTag)},"byWindow":[`;
  const parts = [head];
  const chunks = r.byWindowJson ?? [windowsJson(sortWindows(r.byWindow))];
  chunks.forEach((c, i) => {
    if (i > 0) parts.push(',');
    parts.push(c);
  });
  parts.push(']}\n');
  return parts;
}

const latin1Bytes = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const START = latin1Bytes('{"start":"');
const TYPE = latin1Bytes('Z","type":');
const COUNT = latin1Bytes(',"count":');
const SUM = latin1Bytes(',"sum":');

/**
 * The byWindow entries, comma-separated. Written byte by byte into one buffer: a default run
 * has ~72k windows, and a template string per window, joined, cost ~1 µs a window (~70 ms a run,
 * on the split's critical path in the sink).
 */
function windowsJson(ws: WindowGroup[]): string {
  // Many windows share a day and a type: their encoded pieces are made once.
  const typeJson = new Map<string, Uint8Array>();
  const dayText = new Map<number, Uint8Array>();
  let out = Buffer.allocUnsafe(Math.max(256, ws.length * 96));
  let at = 0;
  const room = (n: number) => {
    if (at + n <= out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(out.length * 2, at + n));
    out.copy(bigger, 0, 0, at);
    out = bigger;
  };
  // Short pieces: a loop beats Buffer.copy's per-call cost.
  const put = (b: Uint8Array) => {
    for (let k = 0; k < b.length; k++) out[at++] = b[k]!;
  };
  const two = (n: number) => {
    out[at++] = 48 + ((n / 10) | 0);
    out[at++] = 48 + (n % 10);
  };
  const int = (v: bigint | number | string) => {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      const b = Buffer.from(String(v), 'latin1');
      room(b.length);
      put(b);
      return;
    }
    room(17);
    if (v < 0) {
      out[at++] = 45; // -
      v = -v;
    }
    const first = at;
    do {
      out[at++] = 48 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
    for (let i = first, j = at - 1; i < j; i++, j--) {
      const c = out[i]!;
      out[i] = out[j]!;
      out[j] = c;
    }
  };
  for (let i = 0; i < ws.length; i++) {
    const w = ws[i]!;
    let t = typeJson.get(w.type);
    if (t === undefined) typeJson.set(w.type, (t = Buffer.from(jsonString(w.type), 'utf8')));
    const day = Math.floor(w.start / 86400);
    let d = dayText.get(day);
    if (d === undefined) dayText.set(day, (d = latin1Bytes(formatUtc(day * 86400).slice(0, -9))));
    const sod = w.start - day * 86400;
    room(40 + d.length + t.length);
    if (i > 0) out[at++] = 44; // ,
    put(START);
    put(d);
    two(Math.floor(sod / 3600));
    out[at++] = 58; // :
    two(Math.floor((sod % 3600) / 60));
    out[at++] = 58;
    two(sod % 60);
    put(TYPE);
    put(t);
    put(COUNT);
    int(w.count);
    room(8);
    put(SUM);
    int(w.sum);
    room(1);
    out[at++] = 125; // }
  }
  return out.toString('utf8', 0, at);
}

export function deadLetterLine(d: DeadLetter): string {
  return `{"line":${d.line},"reason":"${d.reason}","detail":${jsonString(d.detail)}}\n`;
}
