// Turns framed lines into RawLines batches (pipeline.proto): cut at `batchSize` lines, at
// `maxBytes` of line data, or when the oldest line has waited `maxWaitMs`. Consecutive batches
// cover consecutive byte ranges and line ranges of the file, blank lines included, so any batch
// can be replayed from its offsets.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { isBlank, MAX_LINE_BYTES, type FramePosition, type LineSink } from "@modular-runtime/pipeline/line-reader";
import { closeSync, openSync, readSync } from "node:fs";
import { DeadLetterReason, type BatchSchema } from "@modular-runtime/proto/pipeline/v1/pipeline";

export type BatchInit = MessageInitShape<typeof BatchSchema>;

export interface BatcherOptions {
  batchSize: number;
  /** Line bytes per batch before it is cut (default 4 MiB). */
  maxBytes?: number;
  maxWaitMs?: number;
  now?: () => number;
  /** Resuming after a checkpoint: where the first batch starts, and its trace id. */
  start?: { offset: number; line: number; trace: bigint };
  /** Bytes per read of `frameFile` (which needs it): its line-data buffers get room for a read. */
  readBytes?: number;
}

const ONE_MIB = 1024 * 1024;
/** MAX_LINE_BYTES as a module constant: the hot loop then reads no import binding per line. */
const MAX_LINE = MAX_LINE_BYTES;
/** `inPlaceRun` numbers lines up to this one (their high word is 0). */
const LAST_LOW_LINE = 2 ** 32 - 1;
/** More spare buffers than batches in flight are never needed. */
const MAX_SPARE = 16;

// Line numbers are written as pairs of native uint32 words, which is little-endian only here.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error("ingest: needs a little-endian machine");

export class Batcher implements LineSink {
  /** Finished batches, in order, waiting to be sent. */
  readonly ready: BatchInit[] = [];
  private readonly maxBytes: number;
  private readonly maxWaitMs: number;
  private readonly now: () => number;
  private data: Buffer;
  /** Line-data buffers whose batches have been written out, for reuse. */
  private readonly spare: Buffer[] = [];
  /** Bytes of line data in the batch, counting the pending run. */
  private used = 0;
  /** Bytes already copied into `data`. */
  private copied = 0;
  private runBuf?: Buffer;
  private runStart = 0;
  private runEnd = 0;
  private lineNos: Uint32Array;
  private count = 0;
  private nonBlank = 0;
  private deadLetters: { line: bigint; reason: DeadLetterReason; detail: string }[] = [];
  private full = false;
  private startedAt = 0;
  private firstOffset = 0;
  private firstLine = 1;
  private nextTrace = 1n;
  /** The last non-blank line framed (a line or an oversized one), for progress. */
  lastLineNo = 0;

  constructor(private readonly opts: BatcherOptions) {
    this.maxBytes = opts.maxBytes ?? 4 * ONE_MIB;
    this.maxWaitMs = opts.maxWaitMs ?? 50;
    this.now = opts.now ?? Date.now;
    // A line is at most 1 MiB, so one more line always fits after a batch reaches maxBytes; and
    // reading in place, the unread start of a line and one more read after that.
    const room = opts.readBytes === undefined ? 0 : MAX_LINE_BYTES + 1 + opts.readBytes;
    this.data = Buffer.allocUnsafe(this.maxBytes + ONE_MIB + 2 + room);
    this.lineNos = new Uint32Array(2 * Math.min(opts.batchSize, 16_384));
    if (opts.start) {
      this.firstOffset = opts.start.offset;
      this.firstLine = opts.start.line;
      this.lastLineNo = opts.start.line - 1;
      this.nextTrace = opts.start.trace;
    }
  }

  /**
   * The most line data a batch can hold: it is cut once it reaches maxBytes, so one more line
   * (at most MAX_LINE_BYTES and its newline) can be in it.
   */
  get maxBatchBytes(): number {
    return this.maxBytes + MAX_LINE + 1;
  }

  /** Batches produced so far in the run (sent or ready): the last trace id. */
  get batches(): number {
    return Number(this.nextTrace - 1n);
  }

  line(buf: Buffer, start: number, end: number, lineNo: number, offset: number): void {
    if (this.full) this.cut(offset, lineNo - 1);
    // Lines that follow each other in the read buffer, separated by a bare "\n", are copied
    // in one go later (a copy per line costs more than the line's bytes).
    if (buf === this.runBuf && start === this.runEnd + 1 && buf[this.runEnd] === 10) {
      this.runEnd = end;
    } else {
      this.flushRun();
      this.runBuf = buf;
      this.runStart = start;
      this.runEnd = end;
    }
    this.count1(lineNo, end - start + 1);
  }

  /** Books a line of `bytes` (with its newline) into the batch. */
  private count1(lineNo: number, bytes: number): void {
    if (this.nonBlank === 0) this.startedAt = this.now();
    this.lastLineNo = lineNo;
    this.used += bytes;
    const i = 2 * this.count++;
    if (i + 1 >= this.lineNos.length) this.growLineNos();
    this.lineNos[i] = lineNo >>> 0;
    this.lineNos[i + 1] = Math.floor(lineNo / 2 ** 32);
    this.nonBlank++;
    if (this.count >= this.opts.batchSize || this.used >= this.maxBytes) this.full = true;
    else if ((this.count & 255) === 0 && this.now() - this.startedAt >= this.maxWaitMs) this.full = true;
  }

  /**
   * Frames the file at `path` from `from` (a line start) into batches exactly as
   * `frameFileSteps` feeding `line` and `oversize` does, but reads straight into the line-data
   * buffer: a line stays where the read put it unless something before it in the batch was left
   * out (a blank line, a `\r`, an oversized line), and then moves down once; when a batch is
   * cut, only the bytes not framed yet move to the next buffer. Saves copying every line. One
   * step per read; returns the number of physical lines; `onBytes` gets the bytes of each read.
   */
  *frameFile(path: string, onBytes: (n: number) => void, from: FramePosition = { offset: 0, linesBefore: 0 }): Generator<void, number, void> {
    const readBytes = this.opts.readBytes;
    if (readBytes === undefined) throw new Error("Batcher.frameFile needs the readBytes option");
    this.flushRun();
    const fd = openSync(path, "r");
    try {
      let d = this.data;
      let r = this.copied; // the next byte not framed yet
      let filled = r; // the end of the bytes read
      let at = from.offset; // the file offset of d[r]
      let lineNo = from.linesBefore;
      // Inside a line longer than MAX_LINE_BYTES: its bytes are dropped as they come; we only
      // remember whether all of them were blank.
      let skipping = false;
      let skipBlank = true;
      // One framed line [r, e), its newline (or the end of the file) at `next - 1`.
      const take = (e: number, next: number) => {
        if (e > r && d[e - 1] === 0x0d) e--;
        if (!isBlank(d, r, e)) {
          if (e - r > MAX_LINE_BYTES) this.oversize(lineNo);
          else {
            if (this.full) {
              // cut as `line` does; what is not framed yet goes along to the next buffer
              this.cut(at, lineNo - 1);
              const old = d;
              d = this.data;
              filled = old.copy(d, 0, r, filled);
              e -= r;
              next -= r;
              r = 0;
            }
            if (r !== this.copied) d.copyWithin(this.copied, r, e);
            this.copied += e - r;
            d[this.copied++] = 10;
            this.count1(lineNo, e - r + 1);
          }
        }
        at += next - r;
        r = next;
      };
      for (;;) {
        if (d.length - filled < readBytes) {
          // move the bytes not framed yet down to the end of the batch's lines
          d.copyWithin(this.copied, r, filled);
          filled = this.copied + (filled - r);
          r = this.copied;
        }
        const n = readSync(fd, d, filled, readBytes, at + (filled - r));
        if (n > 0) onBytes(n);
        filled += n;
        let view = d.subarray(0, filled);
        for (;;) {
          if (!skipping && r === this.copied) {
            const before = this.count;
            const taken = this.inPlaceRun(view, r, lineNo);
            if (taken !== r) {
              lineNo += this.count - before;
              at += taken - r;
              r = taken;
            }
          }
          const nl = view.indexOf(10, r);
          if (nl === -1) break;
          lineNo++;
          if (skipping) {
            skipping = false;
            if (!(skipBlank && isBlank(d, r, nl))) this.oversize(lineNo);
            at += nl + 1 - r;
            r = nl + 1;
          } else {
            const before = d;
            take(nl, nl + 1);
            if (d !== before) view = d.subarray(0, filled);
          }
        }
        if (n === 0) {
          if (skipping) {
            lineNo++;
            if (!(skipBlank && isBlank(d, r, filled))) this.oversize(lineNo);
          } else if (r < filled) {
            lineNo++;
            take(filled, filled);
          }
          return lineNo;
        }
        if (skipping || filled - r > MAX_LINE_BYTES + 1) {
          // Longer than 1 MiB even without a trailing \r: too long unless it is all blank.
          skipBlank = (skipping ? skipBlank : true) && isBlank(d, r, filled);
          skipping = true;
          at += filled - r;
          filled = r;
        }
        yield;
      }
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The common case of `frameFile`, many lines per call: from `r` (where the batch's lines end,
   * so a line stays where it is), takes the lines of `view` that need nothing but booking —
   * not blank, no `\r`, at most MAX_LINE_BYTES — until one does not, the batch is full or the
   * view holds no more whole lines. The batch's counters live in locals meanwhile. `lineNo` is
   * the physical line before `r`. Returns where the next line starts (`r` when it took none);
   * the lines taken are the growth of `count`. (Line numbers from 2^32 on, whose high word is
   * not 0, are left to the general path.)
   */
  private inPlaceRun(view: Buffer, r: number, lineNo: number): number {
    if (this.full) return r;
    const batchSize = this.opts.batchSize;
    const maxBytes = this.maxBytes;
    const maxWaitMs = this.maxWaitMs;
    let lineNos = this.lineNos;
    let count = this.count;
    let used = this.used;
    let full = false;
    const start = r;
    for (;;) {
      const nl = view.indexOf(10, r);
      if (nl === -1) break;
      const c = view[r]!; // the first byte: "{" in every valid line
      if (nl - r > MAX_LINE || c === 0x20 || c === 0x09 || c === 0x0d || c === 10 || view[nl - 1] === 0x0d || lineNo >= LAST_LOW_LINE) break;
      if (this.nonBlank === 0) this.startedAt = this.now();
      this.nonBlank++;
      lineNo++;
      used += nl + 1 - r;
      r = nl + 1;
      const i = 2 * count++;
      if (i + 1 >= lineNos.length) lineNos = this.growLineNos();
      lineNos[i] = lineNo;
      lineNos[i + 1] = 0;
      if (count >= batchSize || used >= maxBytes) {
        full = true;
        break;
      }
      if ((count & 255) === 0 && this.now() - this.startedAt >= maxWaitMs) {
        full = true;
        break;
      }
    }
    this.count = count;
    this.used = used;
    this.copied += r - start;
    if (r !== start) this.lastLineNo = lineNo;
    this.full = full;
    return r;
  }

  /** Doubles the room for line numbers, keeping those booked; returns the new array. */
  private growLineNos(): Uint32Array {
    const grown = new Uint32Array(this.lineNos.length * 2);
    grown.set(this.lineNos);
    return (this.lineNos = grown);
  }

  oversize(lineNo: number): void {
    if (this.nonBlank === 0) this.startedAt = this.now();
    this.lastLineNo = lineNo;
    this.nonBlank++;
    this.deadLetters.push({
      line: BigInt(lineNo),
      reason: DeadLetterReason.INVALID_JSON,
      detail: `line longer than 1 MiB (${ONE_MIB} bytes)`,
    });
  }

  /** Cuts the current batch if it has waited longer than maxWaitMs (checked between chunks). */
  expire(): void {
    if (this.nonBlank > 0 && this.now() - this.startedAt >= this.maxWaitMs) this.full = true;
  }

  /** At the end of the input: the last batch covers everything up to the end of the file. */
  finish(fileBytes: number, physicalLines: number): void {
    if (this.nonBlank > 0) this.cut(fileBytes, physicalLines);
  }

  /**
   * A batch this batcher made has been written out: its line-data buffer may be reused for a
   * later batch. Data of batches that are never recycled is left to the GC.
   */
  recycle(batch: BatchInit): void {
    const data = batch.payload?.case === "raw" ? batch.payload.value.data : undefined;
    if (data && data.byteOffset === 0 && data.buffer.byteLength === this.data.length && this.spare.length < MAX_SPARE) {
      this.spare.push(Buffer.from(data.buffer, 0, data.buffer.byteLength));
    }
  }

  /** The read buffer is about to be reused: copy the pending lines out of it. */
  chunkDone(): void {
    this.flushRun();
  }

  private flushRun(): void {
    if (this.runBuf === undefined) return;
    this.copied += this.runBuf.copy(this.data, this.copied, this.runStart, this.runEnd);
    this.data[this.copied++] = 10;
    this.runBuf = undefined;
  }

  private cut(endOffset: number, lastLine: number): void {
    this.flushRun();
    const n = this.count;
    const lineNumbers = new Uint8Array(n * 8);
    lineNumbers.set(new Uint8Array(this.lineNos.buffer, 0, n * 8));
    // The batch keeps the buffer its lines were copied into (a view, not another copy) and the
    // next batch takes another one: the send writes it to the socket as it is, so it is not
    // reused before `recycle` says the write is done. (A fresh 5 MiB buffer per batch instead
    // makes V8 run a full GC every few dozen batches for the external memory.)
    const data = this.data.subarray(0, this.copied);
    this.data = this.spare.pop() ?? Buffer.allocUnsafe(this.data.length);
    this.ready.push({
      meta: {
        traceId: this.nextTrace++,
        firstOffset: BigInt(this.firstOffset),
        endOffset: BigInt(endOffset),
        firstLine: BigInt(this.firstLine),
        lastLine: BigInt(lastLine),
      },
      counters: { lines: BigInt(this.nonBlank), invalid: BigInt(this.deadLetters.length) },
      deadLetters: this.deadLetters,
      payload: { case: "raw", value: { data, lineNumbers } },
    });
    this.firstOffset = endOffset;
    this.firstLine = lastLine + 1;
    this.used = 0;
    this.copied = 0;
    this.count = 0;
    this.nonBlank = 0;
    this.deadLetters = [];
    this.full = false;
  }
}
