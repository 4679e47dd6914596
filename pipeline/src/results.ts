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
  /**
   * Pre-rendered, sorted contents of the byWindow array, in chunks (text, or its UTF-8 bytes) to
   * be joined with commas; used instead of byWindow when set.
   */
  byWindowJson?: (string | Uint8Array)[];
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
  return resultsParts(r)
    .map((p) => (typeof p === 'string' ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength).toString('utf8')))
    .join('');
}

/** results.json as consecutive parts, text or UTF-8 bytes (the byWindow array can be very large). */
export function resultsParts(r: Results): (string | Uint8Array)[] {
  const head =
    `{"version":1,"counts":{"lines":${r.lines},"valid":${r.valid},"invalid":${r.invalid},"dropped":${r.dropped},"aggregated":${r.aggregated}},` +
    `"byType":${groupsJson(r.byType)},"byUser":${groupsJson(r.byUser)},"byTag":${groupsJson(r.byTag)},"byWindow":[`;
  const parts: (string | Uint8Array)[] = [head];
  const chunks = r.byWindowJson ?? windowsJson(sortWindows(r.byWindow));
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
/** About the text of one chunk of byWindow entries: far below V8's string length limit. */
const CHUNK_BYTES = 32 << 20;

/** A window type as its JSON string, in UTF-8 bytes: what WindowJson.add takes. */
export function typeJsonBytes(type: string): Uint8Array {
  return Buffer.from(jsonString(type), 'utf8');
}

/**
 * Writes byWindow entries (§4.4), in the order given, byte by byte into a buffer: a default run
 * has ~72k windows, and a template string per window, joined, cost ~1 µs a window (~70 ms a run,
 * on the split's critical path in the sink). `chunks()` gives the UTF-8 in pieces of about
 * 32 MiB at most, to be joined with commas (Aggregates.byWindowJson).
 */
export class WindowJson {
  private out: Buffer;
  private at = 0;
  private readonly done: Uint8Array[] = [];
  // Many windows share a day: its `YYYY-MM-DDT` is made once.
  private readonly dayText = new Map<number, Uint8Array>();

  /** `expected`: about how many windows will come; `chunkBytes`: where a chunk may end. */
  constructor(expected = 0, private readonly chunkBytes = CHUNK_BYTES) {
    this.out = Buffer.allocUnsafe(Math.min(chunkBytes, Math.max(4096, expected * 96)));
  }

  private room(n: number): void {
    if (this.at + n <= this.out.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.out.length * 2, this.at + n));
    this.out.copy(bigger, 0, 0, this.at);
    this.out = bigger;
  }

  // Short pieces: a loop beats Buffer.copy's per-call cost.
  private put(b: Uint8Array): void {
    const out = this.out;
    let at = this.at;
    for (let k = 0; k < b.length; k++) out[at++] = b[k]!;
    this.at = at;
  }

  private two(n: number): void {
    this.out[this.at++] = 48 + ((n / 10) | 0);
    this.out[this.at++] = 48 + (n % 10);
  }

  private int(v: bigint | number | string): void {
    if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
      const b = Buffer.from(String(v), 'latin1');
      this.room(b.length);
      this.put(b);
      return;
    }
    this.room(17);
    const out = this.out;
    if (v < 0) {
      out[this.at++] = 45; // -
      v = -v;
    }
    const first = this.at;
    let at = first;
    do {
      out[at++] = 48 + (v % 10);
      v = Math.floor(v / 10);
    } while (v > 0);
    for (let i = first, j = at - 1; i < j; i++, j--) {
      const c = out[i]!;
      out[i] = out[j]!;
      out[j] = c;
    }
    this.at = at;
  }

  /** Appends one window; `typeJson` is typeJsonBytes(type). */
  add(start: number, typeJson: Uint8Array, count: bigint | number | string, sum: bigint | number | string): void {
    const day = Math.floor(start / 86400);
    let d = this.dayText.get(day);
    if (d === undefined) this.dayText.set(day, (d = latin1Bytes(formatUtc(day * 86400).slice(0, -9))));
    const sod = start - day * 86400;
    if (this.at >= this.chunkBytes) {
      // a chunk ends between two entries: chunks are joined with commas
      this.done.push(this.out.subarray(0, this.at));
      this.out = Buffer.allocUnsafe(this.out.length);
      this.at = 0;
    }
    this.room(40 + d.length + typeJson.length);
    if (this.at > 0) this.out[this.at++] = 44; // ,
    this.put(START);
    this.put(d);
    this.two(Math.floor(sod / 3600));
    this.out[this.at++] = 58; // :
    this.two(Math.floor((sod % 3600) / 60));
    this.out[this.at++] = 58;
    this.two(sod % 60);
    this.put(TYPE);
    this.put(typeJson);
    this.put(COUNT);
    this.int(count);
    this.room(8);
    this.put(SUM);
    this.int(sum);
    this.room(1);
    this.out[this.at++] = 125; // }
  }

  /** The entries, as UTF-8 in chunks to be joined with commas (none: no window); the last call. */
  chunks(): Uint8Array[] {
    return this.at > 0 ? [...this.done, this.out.subarray(0, this.at)] : [...this.done];
  }
}

/** The byWindow entries of sorted windows, in chunks to be joined with commas. */
export function windowsJson(ws: WindowGroup[]): Uint8Array[] {
  const w = new WindowJson(ws.length);
  const typeJson = new Map<string, Uint8Array>();
  for (const g of ws) {
    let t = typeJson.get(g.type);
    if (t === undefined) typeJson.set(g.type, (t = typeJsonBytes(g.type)));
    w.add(g.start, t, g.count, g.sum);
  }
  return w.chunks();
}

export function deadLetterLine(d: DeadLetter): string {
  return `{"line":${d.line},"reason":"${d.reason}","detail":${jsonString(d.detail)}}\n`;
}
