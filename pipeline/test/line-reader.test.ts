// Chunked file framing must agree with whole-buffer framing, including oversized lines that span
// the reader's 8 MiB chunk boundaries.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { frameBuffer, frameFile, type LineSink } from '../src/validate/line-reader.js';
import { tempDir } from './helpers.js';

const dir = tempDir('pipeline-frame-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function collect(): { sink: LineSink; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    sink: {
      line: (b, s, e, no) => seen.push(`${no}:${e - s}:${b[s]}:${b[e - 1]}`),
      oversize: (no) => seen.push(`${no}:OVERSIZE`),
    },
  };
}

it('chunked framing equals whole-buffer framing across chunk boundaries', () => {
  const MiB = 1024 * 1024;
  const parts: string[] = [];
  let size = 0;
  const add = (s: string) => { parts.push(s); size += s.length; };
  // Walk lines of assorted sizes, putting big lines right across the 8 MiB and 16 MiB marks.
  let i = 0;
  while (size < 26 * MiB) {
    const nearBoundary = [8, 16, 24].some((m) => Math.abs(size - m * MiB) < 2 * MiB);
    const len = nearBoundary && i % 3 === 0 ? [MiB, MiB + 1, 3 * MiB, MiB - 1][i % 4] : 100 + (i * 7919) % 50000;
    // now and then an overlong line that is all blanks (skipped, not an error), or ends in CR
    if (nearBoundary && i % 6 === 3) add(' \t'.repeat(1.5 * MiB) + '\r\n');
    else if (nearBoundary && i % 6 === 1) add('b'.repeat(MiB) + '\r\n');
    else add('a'.repeat(len) + (i % 5 === 0 ? '\r\n' : i % 11 === 0 ? '\n  \n' : '\n'));
    i++;
  }
  add('tail-without-newline');
  const text = parts.join('');
  const path = join(dir, 'big.txt');
  writeFileSync(path, text);
  const a = collect();
  const b = collect();
  const na = frameBuffer(Buffer.from(text, 'latin1'), a.sink);
  const nb = frameFile(path, b.sink);
  expect(nb).toBe(na);
  expect(b.seen).toEqual(a.seen);
  expect(a.seen.filter((s) => s.endsWith('OVERSIZE')).length).toBeGreaterThan(0);
  expect(a.seen.filter((s) => s.includes(`:${MiB}:98:98`)).length).toBeGreaterThan(0); // 1 MiB + CR kept
});
