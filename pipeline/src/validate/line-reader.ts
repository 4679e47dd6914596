// §4.2 line framing over a file read in large chunks with bounded memory: 1-based physical line
// numbers, blank lines skipped (but numbered), trailing `\r` dropped, oversized lines reported
// without ever being held in memory whole.
import { closeSync, openSync, readSync } from 'node:fs';
import { MAX_LINE_BYTES } from './validator.js';

export { MAX_LINE_BYTES };

export interface LineSink {
  /**
   * A non-blank line: bytes [start, end) of `buf`, without `\n` and trailing `\r`. `offset` is
   * the file offset of its first byte (only from frameFile and frameFileSteps).
   */
  line(buf: Buffer, start: number, end: number, lineNo: number, offset: number): void;
  /** A line longer than MAX_LINE_BYTES (without its newline). */
  oversize(lineNo: number): void;
  /**
   * frameFileSteps is about to reuse its read buffer: `buf` of earlier `line` calls stops being
   * valid after this. A sink that keeps views into it copies them out here.
   */
  chunkDone?(): void;
}

const CHUNK = 8 * 1024 * 1024;

/** Whether bytes [s, e) of `buf` are all spaces, tabs or `\r` (a §4.2 blank line). */
export function isBlank(buf: Buffer, s: number, e: number): boolean {
  for (let i = s; i < e; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

/** Frames the lines of `buf` (a whole input in memory); used by tests and small inputs. */
export function frameBuffer(buf: Buffer, sink: LineSink): number {
  let lineNo = 0;
  let pos = 0;
  const n = buf.length;
  while (pos < n) {
    let nl = buf.indexOf(10, pos);
    if (nl === -1) nl = n;
    lineNo++;
    emit(buf, pos, nl, lineNo, sink);
    pos = nl + 1;
  }
  return lineNo;
}

function emit(buf: Buffer, s: number, e: number, lineNo: number, sink: LineSink, base = 0): void {
  // Order matters where §4.2 is terse: the trailing \r is not part of the line, a blank line is
  // skipped whatever its length, and only then does the 1 MiB limit apply.
  if (e > s && buf[e - 1] === 0x0d) e--;
  if (isBlank(buf, s, e)) return;
  if (e - s > MAX_LINE_BYTES) {
    sink.oversize(lineNo);
    return;
  }
  sink.line(buf, s, e, lineNo, base + s);
}

/** Streams the lines of a file through `sink`; returns the number of physical lines. */
export function frameFile(path: string, sink: LineSink, onBytes?: (n: number) => void): number {
  const steps = frameFileSteps(path, sink, onBytes);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** Where to start framing: a file offset at the start of a line, and the lines before it. */
export interface FramePosition {
  offset: number;
  linesBefore: number;
}

/**
 * frameFile in steps: frames one chunk (8 MiB) per step and yields, so an asynchronous caller
 * can wait (e.g. for backpressure) between chunks; returns the number of physical lines. `from`
 * resumes at a line start (a replay after a checkpoint); line numbers continue from it.
 */
export function* frameFileSteps(
  path: string,
  sink: LineSink,
  onBytes?: (n: number) => void,
  from: FramePosition = { offset: 0, linesBefore: 0 },
): Generator<void, number, void> {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let filled = 0;
    let base = from.offset; // file offset of buf[0]
    let lineNo = from.linesBefore;
    // An overlong line is not kept: we only remember whether all of it was blank.
    let skipping = false;
    let skipBlank = true;
    const endSkip = () => {
      if (!skipBlank) sink.oversize(lineNo);
      skipping = false;
    };
    for (;;) {
      const n = readSync(fd, buf, filled, CHUNK - filled, base + filled);
      if (onBytes && n > 0) onBytes(n);
      const eof = n === 0;
      filled += n;
      const view = buf.subarray(0, filled);
      let pos = 0;
      for (;;) {
        const nl = view.indexOf(10, pos);
        if (nl === -1) break;
        if (skipping) {
          skipBlank = skipBlank && isBlank(buf, pos, nl);
          endSkip();
        } else {
          lineNo++;
          emit(buf, pos, nl, lineNo, sink, base);
        }
        pos = nl + 1;
      }
      if (eof) {
        if (skipping) endSkip();
        else if (pos < filled) {
          lineNo++;
          emit(buf, pos, filled, lineNo, sink, base);
        }
        sink.chunkDone?.();
        return lineNo;
      }
      sink.chunkDone?.();
      const rem = filled - pos;
      if (skipping) {
        skipBlank = skipBlank && isBlank(buf, pos, filled);
        base += filled;
        filled = 0;
      } else if (rem > MAX_LINE_BYTES + 1) {
        // Longer than 1 MiB even without a trailing \r: too long unless it is all blank.
        lineNo++;
        skipping = true;
        skipBlank = isBlank(buf, pos, filled);
        base += filled;
        filled = 0;
      } else {
        buf.copy(buf, 0, pos, filled);
        base += pos;
        filled = rem;
      }
      yield;
    }
  } finally {
    closeSync(fd);
  }
}
