// Reproducible NDJSON event generator: same options → same bytes. Streams to disk in large
// chunks with bounded memory; strings are assembled from precomputed pieces to stay fast.
import { closeSync, openSync, write } from 'node:fs';
import { Rng } from './rng.js';
import { INVALID_KINDS, OVERSIZE_KIND, TRICKY_KINDS } from './special-lines.js';

export type Distribution = 'uniform' | 'zipf' | 'burst';

export interface GenerateOptions {
  events: number;
  seed: number;
  users: number;
  distribution: Distribution;
  invalidRatio: number;
  types: string[];
  out: string;
  /** Span of event time in days from 2026-01-01 (1..365): it bounds the number of windows. */
  days?: number;
  /** Called now and then with the number of lines written so far. */
  onProgress?: (written: number) => void;
}

export const DEFAULT_TYPES = ['click', 'view', 'purchase', 'signup', 'search', 'add_to_cart', 'logout'];
const DEFAULT_TYPE_WEIGHTS = [30, 28, 8, 4, 14, 10, 6];

export interface GenerateStats {
  lines: number;
  invalid: number;
  tricky: number;
  bytes: number;
}

const CHUNK_BYTES = 8 * 1024 * 1024;
// Room kept free at the end of a chunk: more than the longest line (the >1 MiB invalid one).
const LINE_RESERVE = 1536 * 1024;
const YEAR_START = Date.UTC(2026, 0, 1) / 1000;
/**
 * Default span of event time: one week. Like a real log, a bigger file is denser, not longer,
 * so the number of (window, type) groups stays bounded and memory can stay flat with size.
 */
export const DEFAULT_DAYS = 7;
const TWO = Array.from({ length: 100 }, (_, i) => String(i).padStart(2, '0'));

const OFFSETS = ['+02:00', '-05:00', '+05:30', '-03:30', '+09:00', '+00:00', '-00:00', '+14:00', '-11:00', '+23:59'];
const SPECIAL_TS = [
  '1969-12-31T23:59:59Z',
  '1969-12-31T23:59:00.000000001Z',
  '1969-06-15T12:34:56.7+01:00',
  '2024-02-29T12:00:00Z',
  '2028-02-29T06:00:00.25-04:00',
  '2000-02-29T00:00:00Z',
  '2025-12-31T23:59:59.999999999Z',
  '2026-01-01T00:59:59+01:00',
];
const SOURCES = ['web', 'ios', 'android', 'api'];
const OVERSIZE_GAP = 100_000;

/** Day-of-year → "2026-MM-DDT" prefix. */
function dayPrefixes(): string[] {
  const out: string[] = [];
  for (let d = 0; d < 365; d++) {
    const dt = new Date((YEAR_START + d * 86400) * 1000);
    out.push(`2026-${TWO[dt.getUTCMonth() + 1]}-${TWO[dt.getUTCDate()]}T`);
  }
  return out;
}

function userNames(n: number): string[] {
  const out = new Array<string>(n);
  for (let i = 0; i < n; i++) out[i] = 'u' + String(i + 1).padStart(6, '0');
  return out;
}

/** Cumulative Zipf(s=1.1) weights over ranks 1..n, for sampling by binary search. */
function zipfCdf(n: number): Float64Array {
  const cdf = new Float64Array(n);
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += 1 / Math.pow(i + 1, 1.1);
    cdf[i] = acc;
  }
  for (let i = 0; i < n; i++) cdf[i] /= acc;
  return cdf;
}

function sampleCdf(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export async function generate(opts: GenerateOptions): Promise<GenerateStats> {
  const span = opts.days ?? DEFAULT_DAYS;
  if (!Number.isInteger(span) || span < 1 || span > 365) throw new RangeError(`days must be an integer in 1..365, got ${span}`);
  const rng = new Rng(opts.seed);
  const days = dayPrefixes();
  const users = userNames(opts.users);
  const cdf = opts.distribution === 'zipf' ? zipfCdf(opts.users) : null;
  const types = opts.types;
  const typeCdf = new Float64Array(types.length);
  {
    const weights = types.map((t, i) => (types === DEFAULT_TYPES || sameList(types, DEFAULT_TYPES) ? DEFAULT_TYPE_WEIGHTS[i] : 1));
    const total = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    weights.forEach((w, i) => { acc += w / total; typeCdf[i] = acc; });
    typeCdf[types.length - 1] = 1;
  }
  const ratio = opts.invalidRatio;
  const trickyRatio = ratio > 0 ? Math.min(0.5, ratio / 2) : 0;
  const oversizeGap = ratio >= 0.2 ? 1000 : OVERSIZE_GAP;

  const enc = (x: string) => Buffer.from(x, 'utf8');
  // Constant pieces are pre-joined so that each event needs few copies.
  const dayBytes = days.map((d) => enc('{"ts":"' + d));
  const userBytes = users.map((u) => enc(u + '","value":'));
  const typeBytes = types.map((t) => enc('","type":"' + t + '","user":"'));
  const offsetBytes = OFFSETS.map(enc);
  const specialTsBytes = SPECIAL_TS.map(enc);
  const metaPrefix = [
    SOURCES.map((s) => enc(`,"metadata":{"src":"${s}","session":`)),
    SOURCES.map((s) => enc(`,"metadata":{"src":"${s}","ab":`)),
    SOURCES.map((s) => enc(`,"metadata":{"src":"${s}","geo":{"lat":`)),
  ];
  const P_TS = enc('{"ts":"');
  const P_TRUE = enc('true,"page":"/p/');
  const P_FALSE = enc('false,"page":"/p/');
  const P_LON = enc(',"lon":');
  const P_TAGS = enc(',"metadata":{"tags":["a","b"],"retry":null}}\n');

  const st: FillState = {
    rng, opts, ratio, trickyRatio, oversizeGap, cdf, typeCdf,
    dayBytes, userBytes, typeBytes, offsetBytes, specialTsBytes, metaPrefix,
    P_TS, P_TRUE, P_FALSE, P_LON, P_TAGS,
    i: 0, invalidIdx: 0, trickyIdx: 0, lastOversize: -Infinity, invalid: 0, tricky: 0, burstCentre: 0, burstLeft: 0,
  };

  // Double buffering: one chunk is written by the libuv pool while the next one is filled.
  const fd = openSync(opts.out, 'w');
  const chunks = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let which = 0;
  let bytes = 0;
  let pending: Promise<void> | null = null;
  try {
    while (st.i < opts.events) {
      const chunk = chunks[which];
      const len = fill(st, chunk);
      if (pending !== null) await pending;
      pending = writeAll(fd, chunk, len);
      bytes += len;
      which ^= 1;
      if (opts.onProgress) opts.onProgress(st.i);
    }
    if (pending !== null) await pending;
  } finally {
    closeSync(fd);
  }
  return { lines: opts.events, invalid: st.invalid, tricky: st.tricky, bytes };
}

interface FillState {
  rng: Rng;
  opts: GenerateOptions;
  ratio: number;
  trickyRatio: number;
  oversizeGap: number;
  cdf: Float64Array | null;
  typeCdf: Float64Array;
  dayBytes: Buffer[];
  userBytes: Buffer[];
  typeBytes: Buffer[];
  offsetBytes: Buffer[];
  specialTsBytes: Buffer[];
  metaPrefix: Buffer[][];
  P_TS: Buffer;
  P_TRUE: Buffer;
  P_FALSE: Buffer;
  P_LON: Buffer;
  P_TAGS: Buffer;
  /** Lines written so far (the loop index). */
  i: number;
  invalidIdx: number;
  trickyIdx: number;
  lastOversize: number;
  invalid: number;
  tricky: number;
  burstCentre: number;
  burstLeft: number;
}

// Byte writers: take and return the write position, so the hot loop keeps it in a local.
function putBytes(dst: Buffer, p: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 12) {
    dst.set(src, p);
    return p + n;
  }
  for (let k = 0; k < n; k++) dst[p + k] = src[k];
  return p + n;
}

function putUint(dst: Buffer, p: number, n: number): number {
  let digits = 1;
  for (let t = n; t >= 10; t = Math.floor(t / 10)) digits++;
  let q = p + digits;
  do {
    const d = n % 10;
    dst[--q] = 48 + d;
    n = (n - d) / 10;
  } while (n > 0);
  return p + digits;
}

function putInt(dst: Buffer, p: number, n: number): number {
  if (n < 0) {
    dst[p] = 45;
    return putUint(dst, p + 1, -n);
  }
  return putUint(dst, p, n);
}

function put2(dst: Buffer, p: number, n: number): number {
  dst[p] = 48 + ((n / 10) | 0);
  dst[p + 1] = 48 + (n % 10);
  return p + 2;
}

function putSpecial(dst: Buffer, p: number, l: string | Buffer, eol: string): number {
  if (typeof l === 'string') return p + dst.write(l + eol, p, 'utf8');
  p += l.copy(dst, p);
  return p + dst.write(eol, p, 'latin1');
}

/** Fills `chunk` with whole lines until it is nearly full or all events are written. */
function fill(st: FillState, chunk: Buffer): number {
  const { rng, opts, ratio, trickyRatio, cdf, typeCdf, dayBytes, userBytes, typeBytes, offsetBytes, specialTsBytes, metaPrefix } = st;
  const burst = opts.distribution === 'burst';
  const spanSeconds = (opts.days ?? DEFAULT_DAYS) * 86400;
  const limit = CHUNK_BYTES - LINE_RESERVE;
  const events = opts.events;
  let p = 0;
  let i = st.i;
  for (; i < events && p < limit; i++) {
    if (ratio > 0) {
      // Occasional blank lines (not counted as events) and CRLF endings.
      const r = rng.u32();
      if ((r & 0x3ff) === 0) p = putSpecial(chunk, p, (r & 0x400) ? '  \t' : '', '\n');
      if (rng.float() < ratio) {
        let kind = INVALID_KINDS[st.invalidIdx];
        st.invalidIdx = (st.invalidIdx + 1) % INVALID_KINDS.length;
        if (kind.name === OVERSIZE_KIND) {
          if (i - st.lastOversize < st.oversizeGap) {
            kind = INVALID_KINDS[st.invalidIdx];
            st.invalidIdx = (st.invalidIdx + 1) % INVALID_KINDS.length;
          } else st.lastOversize = i;
        }
        p = putSpecial(chunk, p, kind.make(rng), '\n');
        st.invalid++;
        continue;
      }
      if (rng.float() < trickyRatio) {
        const kind = TRICKY_KINDS[st.trickyIdx];
        st.trickyIdx = (st.trickyIdx + 1) % TRICKY_KINDS.length;
        p = putSpecial(chunk, p, kind.make(rng), (r & 0x800) ? '\r\n' : '\n');
        st.tricky++;
        continue;
      }
    }

    // --- timestamp ---------------------------------------------------------------------------
    const fmt = rng.u32();
    if ((fmt & 0x3ff) === 7) {
      p = putBytes(chunk, p, st.P_TS);
      p = putBytes(chunk, p, specialTsBytes[(fmt >>> 10) % SPECIAL_TS.length]);
    } else {
      let sec: number;
      if (burst) {
        if (st.burstLeft === 0) {
          st.burstCentre = rng.int(spanSeconds - 600);
          st.burstLeft = 200 + rng.int(5000);
        }
        st.burstLeft--;
        // Most events within seconds of the centre, a tail over ten minutes.
        sec = st.burstCentre + ((fmt & 0xf0000) === 0 ? rng.int(600) : rng.int(20));
      } else {
        sec = rng.int(spanSeconds);
      }
      const day = (sec / 86400) | 0;
      const sod = sec - day * 86400;
      const hh = (sod / 3600) | 0;
      const mm = ((sod - hh * 3600) / 60) | 0;
      const ss = sod - hh * 3600 - mm * 60;
      p = putBytes(chunk, p, dayBytes[day]);
      p = put2(chunk, p, hh);
      chunk[p++] = 58;
      p = put2(chunk, p, mm);
      chunk[p++] = 58;
      p = put2(chunk, p, ss);
      const kind = (fmt >>> 12) & 7; // 0..7
      if (kind >= 5) {
        const digits = 1 + ((fmt >>> 16) % 9);
        let f = rng.u32();
        chunk[p++] = 46;
        for (let k = 0; k < digits; k++) {
          chunk[p++] = 48 + (f % 10);
          f = Math.floor(f / 10);
        }
      }
      if (kind === 4 || kind === 7) p = putBytes(chunk, p, offsetBytes[(fmt >>> 20) % OFFSETS.length]);
      else chunk[p++] = 90;
    }

    // --- type, user, value, metadata -----------------------------------------------------------
    const tu = rng.float();
    let t = 0;
    while (typeCdf[t] < tu) t++;
    let u: number;
    if (cdf !== null) u = sampleCdf(cdf, rng.float());
    else if (burst && (fmt & 0x100000) === 0) u = rng.int(Math.min(50, opts.users));
    else u = rng.int(opts.users);
    p = putBytes(chunk, p, typeBytes[t]);
    p = putBytes(chunk, p, userBytes[u]);
    const vr = rng.u32();
    const vk = vr & 0x3f;
    if (vk === 0) p = putInt(chunk, p, -((vr >>> 6) % 1000));
    else if (vk < 4) p = putUint(chunk, p, (vr >>> 6) % 100000);
    else p = putUint(chunk, p, (vr >>> 6) % 250);
    const m = vr >>> 28;
    if (m < 8) {
      p = putBytes(chunk, p, metaPrefix[0][m & 3]);
      p = putUint(chunk, p, (vr >>> 8) & 0xfffff);
      chunk[p++] = 125;
      chunk[p++] = 125;
    } else if (m < 12) {
      p = putBytes(chunk, p, metaPrefix[1][m & 3]);
      p = putBytes(chunk, p, (m & 1) === 1 ? st.P_TRUE : st.P_FALSE);
      p = putUint(chunk, p, (vr >>> 10) & 0x3ff);
      chunk[p++] = 34;
      chunk[p++] = 125;
      chunk[p++] = 125;
    } else if (m < 15) {
      p = putBytes(chunk, p, metaPrefix[2][m & 3]);
      p = putInt(chunk, p, (((vr >>> 8) & 0xff) % 180) - 90);
      p = putBytes(chunk, p, st.P_LON);
      p = putInt(chunk, p, (((vr >>> 16) & 0xff) % 200) - 100);
      chunk[p++] = 125;
      chunk[p++] = 125;
      chunk[p++] = 125;
    } else {
      p = putBytes(chunk, p, st.P_TAGS);
      continue;
    }
    chunk[p++] = 10;
  }
  st.i = i;
  return p;
}

function writeAll(fd: number, buf: Buffer, len: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const step = (off: number) => {
      write(fd, buf, off, len - off, null, (err, n) => {
        if (err) reject(err);
        else if (off + n < len) step(off + n);
        else resolve();
      });
    };
    step(0);
  });
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
