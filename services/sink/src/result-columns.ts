// Reads the column form of a ResultPart (proto/pipeline/v1/pipeline.proto, GroupColumns and
// WindowColumns) into what results.json is written from. The columns are packed
// little-endian integers, read in place through a DataView; a figure comes out as a number
// when it is a safe integer (nearly always) and as a bigint otherwise, so it stays exact.

import { Code, ConnectError } from "@connectrpc/connect";
import type { GroupColumns, WindowColumns } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { compareUtf8, sortWindows, typeJsonBytes, WindowJson, windowsJson, type Group, type WindowGroup } from "@modular-runtime/pipeline/results";
import { isAscii } from "node:buffer";

const utf8 = new TextDecoder("utf-8", { fatal: true });
const latin1 = new TextDecoder("latin1");

function fail(message: string): never {
  throw new ConnectError(`sink: ${message}`, Code.InvalidArgument);
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** A column of `size` entries of `width` bytes each, or a clear error naming it. */
function column(bytes: Uint8Array, size: number, width: number, what: string): DataView {
  if (bytes.length !== size * width) fail(`${what} holds ${bytes.length} bytes, expected ${size} × ${width}`);
  return view(bytes);
}

/** The little-endian int64 at entry i: a number when it is a safe integer, else a bigint. */
function int64At(v: DataView, i: number): number | bigint {
  const lo = v.getUint32(i * 8, true);
  const hi = v.getInt32(i * 8 + 4, true);
  // |hi| < 2^21 keeps hi × 2^32 + lo within ±2^53
  if (hi >= -0x200000 && hi < 0x200000) return hi * 0x1_0000_0000 + lo;
  return v.getBigInt64(i * 8, true);
}

/** The keys of a GroupColumns: one string per group. */
function keysOf(c: GroupColumns, what: string): string[] {
  const ends = column(c.keyEnd, c.size, 4, `${what}.key_end`);
  const keys = new Array<string>(c.size);
  // ASCII keys (the common case) decode once as a whole and are cut by byte offsets
  const whole = isAscii(c.keys) ? latin1.decode(c.keys) : undefined;
  let start = 0;
  for (let i = 0; i < c.size; i++) {
    const end = ends.getUint32(i * 4, true);
    if (end < start || end > c.keys.length) fail(`${what}.key_end[${i}] = ${end} is outside ${start}..${c.keys.length}`);
    if (whole !== undefined) keys[i] = whole.slice(start, end);
    else {
      try {
        keys[i] = utf8.decode(c.keys.subarray(start, end));
      } catch {
        fail(`${what} key ${i} is not valid UTF-8`);
      }
    }
    start = end;
  }
  if (start !== c.keys.length) fail(`${what}.keys holds ${c.keys.length} bytes, the keys end at ${start}`);
  return keys;
}

/** Appends the groups of `c` (one family: "byType", "byUser" or "byTag") to `out`. */
export function readGroups(c: GroupColumns | undefined, what: string, out: Group[]): void {
  if (c === undefined || c.size === 0) return;
  const keys = keysOf(c, what);
  const count = column(c.count, c.size, 8, `${what}.count`);
  const sum = column(c.sum, c.size, 8, `${what}.sum`);
  const min = column(c.min, c.size, 8, `${what}.min`);
  const max = column(c.max, c.size, 8, `${what}.max`);
  for (let i = 0; i < c.size; i++) {
    out.push({ key: keys[i]!, count: int64At(count, i), sum: int64At(sum, i), min: int64At(min, i), max: int64At(max, i) });
  }
}

/** One part's byWindow columns, checked. */
interface WindowPart {
  size: number;
  start: DataView;
  typeIndex: DataView;
  count: DataView;
  sum: DataView;
  types: string[];
}

/**
 * The byWindow columns of a run's result parts: checked as each part comes and, while they are
 * in §4.4 order (aggregate sends them so), written as JSON right away, straight from the columns
 * (no object per window), so the writing overlaps with aggregate sending the next parts. Windows
 * out of order are sorted first, at the end.
 */
export class WindowColumnsReader {
  private readonly parts: WindowPart[] = [];
  private writer: WindowJson | undefined = new WindowJson(10_000);
  private lastStart = -Infinity;
  private lastType = "";

  add(c: WindowColumns | undefined): void {
    if (c === undefined || c.size === 0) return;
    const types = c.typeDict.map((t, i) => {
      try {
        return utf8.decode(t);
      } catch {
        fail(`byWindow.type_dict[${i}] is not valid UTF-8`);
      }
    });
    const part: WindowPart = {
      size: c.size,
      start: column(c.start, c.size, 8, "byWindow.start"),
      typeIndex: column(c.typeIndex, c.size, 4, "byWindow.type_index"),
      count: column(c.count, c.size, 8, "byWindow.count"),
      sum: column(c.sum, c.size, 8, "byWindow.sum"),
      types,
    };
    this.parts.push(part);
    // one pass: check each window and, while they are in order, write it
    const typeJson = types.map(typeJsonBytes);
    for (let i = 0; i < c.size; i++) {
      const k = part.typeIndex.getUint32(i * 4, true);
      if (k >= types.length) fail(`byWindow.type_index[${i}] = ${k}, but type_dict has ${types.length} entries`);
      const s = int64At(part.start, i);
      if (typeof s === "bigint") fail(`byWindow.start[${i}] = ${s} is not a representable time`);
      if (this.writer === undefined) continue;
      const t = types[k]!;
      if (s < this.lastStart || (s === this.lastStart && compareUtf8(t, this.lastType) <= 0)) {
        this.writer = undefined; // out of order: sorted at the end
        continue;
      }
      this.lastStart = s;
      this.lastType = t;
      this.writer.add(s, typeJson[k]!, int64At(part.count, i), int64At(part.sum, i));
    }
  }

  /** The byWindow entries of results.json, as chunks to be joined with commas. */
  json(): Uint8Array[] {
    if (this.writer !== undefined) return this.writer.chunks();
    const all: WindowGroup[] = [];
    for (const p of this.parts) {
      for (let i = 0; i < p.size; i++) {
        all.push({ start: int64At(p.start, i) as number, type: p.types[p.typeIndex.getUint32(i * 4, true)]!, count: int64At(p.count, i), sum: int64At(p.sum, i) });
      }
    }
    return windowsJson(sortWindows(all));
  }
}
