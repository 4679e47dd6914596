// Writes the §4.2 test corpus of the pipeline package as NDJSON files for parse's parity check
// (scripts/parity.sh): every input of pipeline/test/edge-cases.ts, and mutated lines from
// pipeline/test/fuzz-lines.ts. Usage: node --import tsx parity-corpus.ts OUT_DIR
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EDGE_CASES } from '../../../pipeline/test/edge-cases.js';
import { fuzzLines } from '../../../pipeline/test/fuzz-lines.js';
import { Rng } from '../../../pipeline/src/generate/rng.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: parity-corpus.ts OUT_DIR');
  process.exit(2);
}
mkdirSync(out, { recursive: true });
EDGE_CASES.forEach((c, i) => {
  writeFileSync(join(out, `edge-${String(i).padStart(2, '0')}.ndjson`), c.input);
});
// All edge cases in one file too (line numbers shift, verdicts must not).
writeFileSync(join(out, 'edge-all.ndjson'), Buffer.concat(EDGE_CASES.map((c) => {
  const b = Buffer.from(c.input);
  return b.length > 0 && b[b.length - 1] !== 10 ? Buffer.concat([b, Buffer.from('\n')]) : b;
})));
for (const seed of [1, 7, 11]) {
  writeFileSync(join(out, `fuzz-${seed}.ndjson`), fuzzLines(seed, 50000).join('\n') + '\n');
}
// Byte-level mutations of valid events: invalid UTF-8, controls, escapes, surrogates, deep
// nesting, numbers at the int32 edges; never a newline (that would change the framing).
const BASES = [
  '{"ts":"2026-01-01T00:00:10Z","type":"click","user":"u1","value":5}',
  '{"ts":"2026-03-01T10:20:30.123+05:30","type":"v\\u00e9","user":"u\\ud83d\\ude00","value":-2147483648,"metadata":{"a":[1,2.5e3,true,null,"x"]}}',
  '{"value":2147483647,"user":"é","type":"t","ts":"2024-02-29T23:59:59-23:59","m":[[[[]]]],"n":{"o":{}}}',
  '{"ts":"1969-12-31T23:59:59.999999999Z","type":"a\\"b","user":"\\\\","value":-0}',
];
const PIECES = ['\\u', 'd800', 'dc00', '\\ud83d\\ude00', '\\', '"', '{', '}', '[', ']', ',', ':', '-', '0', '9', 'e', '.', 'E+', ' ',
  '\t', '\r', 'true', 'null', 'NaN', '[[[[[[[[[[[[[[[[', ']]]]]]]]]]]]]]]]', '"ts":', '"value":', '"type":"x",', '2147483648', '-2147483649',
  '00', 'T', 'Z', '+23:59', '+24:00', '.1234567890', '2024-02-30'];
const RAW = [0x00, 0x01, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc2, 0xc3, 0xdf, 0xe0, 0xa0, 0xed, 0x9f, 0xef, 0xf0, 0x90, 0xf4, 0x8f, 0xf5, 0xfe, 0xff];
const rng = new Rng(20260101);
const lines: Buffer[] = [];
for (let i = 0; i < 100000; i++) {
  let b = Buffer.from(BASES[rng.int(BASES.length)]);
  const muts = rng.int(4);
  for (let m = 0; m < muts; m++) {
    const p = rng.int(b.length + 1);
    const k = rng.int(4);
    const piece = rng.int(3) === 0 ? Buffer.from([RAW[rng.int(RAW.length)]]) : Buffer.from(PIECES[rng.int(PIECES.length)]);
    if (k === 0) b = Buffer.concat([b.subarray(0, p), piece, b.subarray(p)]);
    else if (k === 1) b = Buffer.concat([b.subarray(0, p), b.subarray(p + 1 + rng.int(3))]);
    else if (k === 2) b = Buffer.concat([b.subarray(0, p), piece, b.subarray(p + piece.length)]);
    else b = b.subarray(0, p); // truncation
  }
  lines.push(b, Buffer.from('\n'));
}
writeFileSync(join(out, 'bytes-fuzz.ndjson'), Buffer.concat(lines));
console.log(`wrote ${EDGE_CASES.length + 5} corpus files to ${out}`);
