import { frameFileSteps, type FramePosition } from "@modular-runtime/pipeline/line-reader";
import { DeadLetterReason } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Batcher, type BatchInit } from "../src/batcher.js";

const dir = mkdtempSync(join(tmpdir(), "ingest-batcher-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type Framing = "copy" | "in place";

const START = { offset: 0, linesBefore: 0 };

/**
 * Frames the file at `path` from `from` into `b`'s batches: with `readBytes` in place
 * (Batcher.frameFile), without it by copying (frameFileSteps feeding Batcher.line). Returns the
 * bytes read and the physical lines; the batches are in `b.ready`, the last one cut too.
 */
function frame(path: string, b: Batcher, from: FramePosition, inPlace: boolean): { bytes: number; lines: number } {
  let bytes = from.offset;
  const steps = inPlace ? b.frameFile(path, (n) => (bytes += n), from) : frameFileSteps(path, b, (n) => (bytes += n), from);
  for (;;) {
    const r = steps.next();
    if (r.done) {
      b.finish(bytes, r.value);
      return { bytes, lines: r.value };
    }
  }
}

/** Frames a file's content into batches, by copying or in place. */
function batchesOf(
  content: string | Buffer,
  opts: { batchSize: number; maxBytes?: number },
  framing: Framing = "copy",
  readBytes = 1024 * 1024,
): { batches: BatchInit[]; bytes: number; lines: number } {
  const path = join(dir, `in-${Math.random().toString(36).slice(2)}.ndjson`);
  writeFileSync(path, content);
  const inPlace = framing === "in place";
  const b = new Batcher(inPlace ? { ...opts, readBytes } : opts);
  return { batches: b.ready, ...frame(path, b, START, inPlace) };
}

function raw(b: BatchInit) {
  if (b.payload?.case !== "raw") throw new Error("not a raw batch");
  const v = b.payload.value;
  const nums = new BigUint64Array(new Uint8Array(v.lineNumbers!).buffer);
  return { text: Buffer.from(v.data!).toString("utf8"), lineNumbers: [...nums].map(Number) };
}

describe.each(["copy", "in place"] as const)("Batcher (%s)", (framing) => {
  it("frames like the reference: blank lines skipped but numbered, \\r dropped, batches cut at batch_size", () => {
    const { batches, bytes, lines } = batchesOf('{"a":1}\r\n\n  \t\n{"b":2}\n{"c":3}\n\r\n{"d":4}', { batchSize: 2 }, framing);
    expect(lines).toBe(7);
    expect(batches.map(raw)).toEqual([
      { text: '{"a":1}\n{"b":2}\n', lineNumbers: [1, 4] },
      { text: '{"c":3}\n{"d":4}\n', lineNumbers: [5, 7] },
    ]);
    expect(batches.map((b) => b.meta)).toEqual([
      { traceId: 1n, firstOffset: 0n, endOffset: 22n, firstLine: 1n, lastLine: 4n },
      { traceId: 2n, firstOffset: 22n, endOffset: BigInt(bytes), firstLine: 5n, lastLine: 7n },
    ]);
    expect(batches.map((b) => b.counters)).toEqual([
      { lines: 2n, invalid: 0n },
      { lines: 2n, invalid: 0n },
    ]);
  });

  it("turns a line over 1 MiB into an invalid_json dead letter without sending it", () => {
    const big = `{"x":"${"y".repeat(1024 * 1024)}"}`;
    const { batches } = batchesOf(`{"a":1}\n${big}\n${" ".repeat(2 * 1024 * 1024)}\n{"b":2}\n`, { batchSize: 10 }, framing);
    expect(batches).toHaveLength(1);
    expect(raw(batches[0]!)).toEqual({ text: '{"a":1}\n{"b":2}\n', lineNumbers: [1, 4] });
    expect(batches[0]!.deadLetters).toEqual([{ line: 2n, reason: DeadLetterReason.INVALID_JSON, detail: "line longer than 1 MiB (1048576 bytes)" }]);
    expect(batches[0]!.counters).toEqual({ lines: 3n, invalid: 1n });
  });

  it("covers the whole file with consecutive byte and line ranges, and cuts at max bytes", () => {
    const lines = Array.from({ length: 1000 }, (_, i) => (i % 7 === 3 ? "" : `{"i":${i},"pad":"${"p".repeat(i % 50)}"}`));
    const content = lines.join("\n") + "\n";
    const { batches, bytes } = batchesOf(content, { batchSize: 64, maxBytes: 2000 }, framing, 700);
    expect(batches.length).toBeGreaterThan(1000 / 64);
    let offset = 0n;
    let line = 1n;
    const seen: number[] = [];
    for (const [i, b] of batches.entries()) {
      expect(b.meta!.traceId).toBe(BigInt(i + 1));
      expect(b.meta!.firstOffset).toBe(offset);
      expect(b.meta!.firstLine).toBe(line);
      // the batch's bytes are exactly its lines (with any blank lines between them)
      const slice = Buffer.from(content).subarray(Number(b.meta!.firstOffset), Number(b.meta!.endOffset)).toString();
      expect(slice.split("\n").filter((l) => l !== "").join("\n") + "\n").toBe(raw(b).text);
      offset = b.meta!.endOffset!;
      line = b.meta!.lastLine! + 1n;
      seen.push(...raw(b).lineNumbers);
    }
    expect(offset).toBe(BigInt(bytes));
    expect(line).toBe(1001n);
    expect(seen).toEqual(lines.flatMap((l, i) => (l === "" ? [] : [i + 1])));
  });

  it("keeps every line intact across reads", () => {
    const lines = Array.from({ length: 300_000 }, (_, i) => (i % 1000 === 7 ? "" : `{"i":${i},"p":"${"x".repeat(i % 120)}"}${i % 13 === 0 ? "\r" : ""}`));
    const { batches } = batchesOf(lines.join("\n"), { batchSize: 7000 }, framing);
    const expected = lines.filter((l) => l !== "").map((l) => l.replace(/\r$/, "") + "\n").join("");
    expect(batches.map((b) => raw(b).text).join("") === expected).toBe(true);
    expect(batches.flatMap((b) => raw(b).lineNumbers)).toEqual(lines.flatMap((l, i) => (l === "" ? [] : [i + 1])));
  }, 60_000); // comparing 300k lines takes seconds on a busy 2-core machine

  it("sends nothing for an empty or all-blank file", () => {
    expect(batchesOf("", { batchSize: 5 }, framing).batches).toEqual([]);
    expect(batchesOf("\n \n\t\r\n", { batchSize: 5 }, framing).batches).toEqual([]);
  });

  it("cuts a partly filled batch once its first line has waited max_wait_ms", () => {
    let now = 0;
    const b = new Batcher({ batchSize: 100, maxWaitMs: 50, now: () => now });
    const buf = Buffer.from('{"a":1}');
    b.line(buf, 0, buf.length, 1, 0);
    now = 49;
    b.expire();
    b.line(buf, 0, buf.length, 2, 8);
    now = 50;
    b.expire();
    b.line(buf, 0, buf.length, 3, 16);
    b.finish(24, 3);
    expect(b.ready.map((x) => raw(x).lineNumbers)).toEqual([[1, 2], [3]]);
  });

  it("reuses a batch's line buffer only after it was recycled (written out), never while it may be pending", () => {
    const b = new Batcher({ batchSize: 1 });
    const line = (text: string, n: number) => {
      const buf = Buffer.from(text);
      b.line(buf, 0, buf.length, n, 0);
      b.chunkDone();
    };
    const dataOf = (x: BatchInit) => (x.payload?.case === "raw" ? x.payload.value.data! : new Uint8Array(0));
    line('{"a":1}', 1);
    line('{"b":2}', 2); // cuts batch 1
    line('{"c":3}', 3); // cuts batch 2
    const [first, second] = b.ready.splice(0);
    expect(dataOf(second!).buffer).not.toBe(dataOf(first!).buffer);
    b.recycle(first!);
    line('{"d":4}', 4); // cuts batch 3 (in a buffer of its own); batch 4 then takes batch 1's
    b.finish(100, 4);
    const [third, fourth] = b.ready.splice(0);
    expect(dataOf(fourth!).buffer).toBe(dataOf(first!).buffer);
    expect([third, fourth].map((x) => raw(x!).text)).toEqual(['{"c":3}\n', '{"d":4}\n']);
    expect(raw(second!).text).toBe('{"b":2}\n'); // untouched: never recycled
  });
});

describe("Batcher.frameFile (in place)", () => {
  const MiB = 1024 * 1024;
  const run = (path: string, opts: { batchSize: number; maxBytes?: number; maxWaitMs?: number; now?: () => number }, from: FramePosition, readBytes?: number) => {
    const b = new Batcher({ ...opts, readBytes, start: { offset: from.offset, line: from.linesBefore + 1, trace: 1n } });
    const { bytes, lines } = frame(path, b, from, readBytes !== undefined);
    const batches = b.ready.map((x) => ({ meta: x.meta, counters: x.counters, deadLetters: x.deadLetters, ...raw(x) }));
    return { batches, lines, bytes, lastLineNo: b.lastLineNo };
  };

  it("makes exactly the batches of the copying path, for any read size, batch size, resume point", () => {
    // Every case §4.2 framing has: blank lines of every kind, CRLF, a last line without a newline,
    // lines over 1 MiB (blank or not, at the end of the file, exactly at the limit with a \r).
    const pieces = [
      '{"a":1}', "", "  \t", "\r", '{"b":"' + "x".repeat(40) + '"}\r', '{"c":3}', "   {\"d\":4}  ",
      "o".repeat(MiB + 1), " ".repeat(MiB + 5), "p".repeat(MiB) + "\r", "q".repeat(MiB - 1),
    ];
    let seed = 7;
    const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
    for (let round = 0; round < 8; round++) {
      // even rounds: small lines only, read a few bytes at a time; odd: with the big lines
      const big = round % 2 === 1;
      const lines = Array.from({ length: 60 + rnd(60) }, () => (big && rnd(8) === 0 ? pieces[7 + rnd(4)]! : pieces[rnd(7)]!));
      const content = lines.join("\n") + (round % 4 < 2 ? "\n" : "") + (round === 7 ? "r".repeat(MiB + 2) : "");
      const path = join(dir, `eq-${round}.ndjson`);
      writeFileSync(path, content);
      // a resume point: the start of a line in the file
      const k = rnd(lines.length);
      const from = { offset: Buffer.byteLength(lines.slice(0, k).map((l) => l + "\n").join("")), linesBefore: k };
      for (const opts of [{ batchSize: 3 }, { batchSize: 1000, maxBytes: 64 }, { batchSize: 1_000_000 }]) {
        for (const start of [{ offset: 0, linesBefore: 0 }, from]) {
          const want = run(path, opts, start);
          for (const readBytes of big ? [65_536, 300_001, MiB] : [1, 7, 64, 4096]) {
            expect(run(path, opts, start, readBytes), `round ${round} ${JSON.stringify(opts)} from ${start.offset} reads of ${readBytes}`).toEqual(want);
          }
        }
      }
    }
  }, 120_000);

  it("cuts at max_wait_ms where the copying path does, also inside runs of clean lines", () => {
    // A clock that ticks once per reading: both paths read it at the same lines (a batch's first
    // line, every 256th line of a batch), so they cut at the same lines.
    const clock = () => {
      let t = 0;
      return () => t++;
    };
    const lines = Array.from({ length: 3000 }, (_, i) => (i % 997 === 5 ? "" : i % 1499 === 7 ? `{"i":${i}}\r` : `{"i":${i}}`));
    const path = join(dir, "wait.ndjson");
    writeFileSync(path, lines.join("\n") + "\n");
    const want = run(path, { batchSize: 1_000_000, maxWaitMs: 3, now: clock() }, START);
    expect(want.batches.length).toBeGreaterThan(3);
    expect(want.batches.some((b) => b.lineNumbers.length % 256 === 0)).toBe(true);
    for (const readBytes of [100, 4096, MiB]) {
      expect(run(path, { batchSize: 1_000_000, maxWaitMs: 3, now: clock() }, START, readBytes)).toEqual(want);
    }
  });

  it("keeps every line number when a batch outgrows the first 16,384 of them", () => {
    const path = join(dir, "long-batch.ndjson");
    writeFileSync(path, Array.from({ length: 20_000 }, (_, i) => (i === 17_000 ? "" : `{"i":${i}}`)).join("\n") + "\n");
    const want = run(path, { batchSize: 1_000_000 }, START);
    expect(want.batches.flatMap((b) => b.lineNumbers)).toEqual(Array.from({ length: 20_000 }, (_, i) => i + 1).filter((n) => n !== 17_001));
    expect(run(path, { batchSize: 1_000_000 }, START, 4096)).toEqual(want);
  });

  it("numbers lines past 2^32 as the copying path does", () => {
    const path = join(dir, "far.ndjson");
    writeFileSync(path, '{"a":1}\n{"b":2}\n{"c":3}\n{"d":4}\n{"e":5}\n');
    const from = { offset: 0, linesBefore: 2 ** 32 - 3 };
    const want = run(path, { batchSize: 100 }, from);
    expect(want.batches.flatMap((b) => b.lineNumbers)).toEqual([0, 1, 2, 3, 4].map((i) => 2 ** 32 - 2 + i));
    expect(run(path, { batchSize: 100 }, from, 4096)).toEqual(want);
  });

  it("leaves a clean file's lines where the read put them: batch data are the file's bytes", () => {
    const lines = Array.from({ length: 5000 }, (_, i) => `{"i":${i}}`);
    const content = lines.join("\n") + "\n";
    const { batches } = batchesOf(content, { batchSize: 1000 }, "in place", 4096);
    expect(batches).toHaveLength(5);
    expect(batches.map((b) => raw(b).text).join("")).toBe(content);
    // each batch's bytes are one slice of the file: its offsets say which
    for (const b of batches) expect(raw(b).text).toBe(content.slice(Number(b.meta!.firstOffset), Number(b.meta!.endOffset)));
  });
});
