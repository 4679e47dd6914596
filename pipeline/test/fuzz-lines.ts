// Seeded mutations of valid event lines (insert/delete/replace characters, often inside ts or
// value), for differential tests against JSON.parse and the monolith.
import { Rng } from '../src/generate/rng.js';

const BASE = [
  '{"ts":"2026-01-01T00:00:10Z","type":"click","user":"u1","value":5}',
  '{"ts":"2026-03-01T10:20:30.123+05:30","type":"v\\u00e9","user":"u\\ud83d\\ude00","value":-2147483648,"metadata":{"a":[1,2.5e3,true,null,"x"]}}',
  '{"value":0,"user":"é","type":"t","ts":"2024-02-29T23:59:59-23:59","m":[]}',
];
const ALPHABET = '0123456789-:T+.Z'.repeat(3) + '{}[]":,.-+eE0123456789 \t\\/ubfnrtTZ:xaNIé';

export function fuzzLines(seed: number, count: number): string[] {
  const rng = new Rng(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    let s = BASE[rng.int(BASE.length)];
    const muts = rng.int(4); // 0 keeps some lines valid
    const focused = rng.int(2) === 0;
    for (let m = 0; m < muts; m++) {
      const tsAt = s.indexOf('"ts":"') + 6;
      const vAt = s.indexOf('"value":') + 8;
      const p = focused && tsAt > 5 && vAt > 7 ? (rng.int(2) === 0 ? tsAt + rng.int(25) : vAt + rng.int(4)) : rng.int(s.length + 1);
      const ch = ALPHABET[rng.int(ALPHABET.length)];
      const k = rng.int(3);
      if (k === 0) s = s.slice(0, p) + ch + s.slice(p);
      else if (k === 1) s = s.slice(0, p) + s.slice(p + 1);
      else s = s.slice(0, p) + ch + s.slice(p + 1);
    }
    out.push(s);
  }
  return out;
}
