import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { resultsJson } from "@modular-runtime/pipeline/results";
import {
  DeadLetterReason,
  StageRequestSchema,
  type StageRequest,
  type StageResponse,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import { createLogger } from "@modular-runtime/service-kit";
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sinkRun } from "../src/sink.js";

const dir = mkdtempSync(join(tmpdir(), "sink-test-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const log = createLogger({ service: "sink", write: () => undefined });
const enc = new TextEncoder();

type Init = MessageInitShape<typeof StageRequestSchema>;
const msg = (m: Init): StageRequest => create(StageRequestSchema, m);
const header = (outDir: string, extra: Record<string, unknown> = {}): StageRequest =>
  msg({ kind: { case: "header", value: { runId: "run-1", outDir, startedUnixNs: BigInt(Date.now()) * 1_000_000n, ...extra } } });
const batch = (trace: number, lines: number, invalid: number, dropped: number, dead: [number, DeadLetterReason][] = []): StageRequest =>
  msg({
    kind: {
      case: "batch",
      value: {
        meta: { traceId: BigInt(trace), ingestUnixNs: BigInt(Date.now()) * 1_000_000n },
        counters: { lines: BigInt(lines), invalid: BigInt(invalid), dropped: BigInt(dropped) },
        deadLetters: dead.map(([line, reason]) => ({ line: BigInt(line), reason, detail: `bad "${line}"` })),
      },
    },
  });
type Int = number | bigint;
const g = (key: string, count: Int, sum: Int, min: Int, max: Int) => ({ key, count, sum, min, max });
const le64 = (xs: Int[]) => {
  const v = new DataView(new ArrayBuffer(xs.length * 8));
  xs.forEach((x, i) => v.setBigInt64(i * 8, BigInt(x), true));
  return new Uint8Array(v.buffer);
};
const le32 = (xs: number[]) => {
  const v = new DataView(new ArrayBuffer(xs.length * 4));
  xs.forEach((x, i) => v.setUint32(i * 4, x, true));
  return new Uint8Array(v.buffer);
};
/** One family's groups in the column form aggregate sends (GroupColumns). */
const groups = (...gs: ReturnType<typeof g>[]) => {
  const keys = gs.map((x) => enc.encode(x.key));
  let end = 0;
  return {
    size: gs.length,
    keys: Buffer.concat(keys),
    keyEnd: le32(keys.map((k) => (end += k.length))),
    count: le64(gs.map((x) => x.count)),
    sum: le64(gs.map((x) => x.sum)),
    min: le64(gs.map((x) => x.min)),
    max: le64(gs.map((x) => x.max)),
  };
};
/** Windows in the column form (WindowColumns), the type dictionary in order of first use. */
const windows = (...ws: { start: Int; type: string; count: Int; sum: Int }[]) => {
  const dict = [...new Set(ws.map((w) => w.type))];
  return {
    size: ws.length,
    start: le64(ws.map((w) => w.start)),
    typeIndex: le32(ws.map((w) => dict.indexOf(w.type))),
    typeDict: dict.map((t) => enc.encode(t)),
    count: le64(ws.map((w) => w.count)),
    sum: le64(ws.map((w) => w.sum)),
  };
};

async function drive(requests: StageRequest[]): Promise<StageResponse[]> {
  const out: StageResponse[] = [];
  async function* source() {
    yield* requests;
  }
  for await (const r of sinkRun(source(), log)) out.push(r);
  return out;
}

async function failure(requests: StageRequest[]): Promise<ConnectError> {
  try {
    await drive(requests);
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("the sink accepted the stream");
}

describe("sink", () => {
  it("writes the canonical results, the dead letters in order and metrics, and answers RunComplete", async () => {
    const out = join(dir, "ok");
    const responses = await drive([
      header(out, { batchSize: 3 }),
      batch(1, 3, 1, 0, [[2, DeadLetterReason.INVALID_JSON]]),
      batch(2, 3, 1, 1, [[6, DeadLetterReason.INVALID_EVENT]]),
      // results arrive unsorted and split over parts; the sink sorts by UTF-8 bytes
      msg({ kind: { case: "resultPart", value: { types: groups(g("view", 1, -5, -5, -5), g("click", 2, 30, 10, 20)), users: groups(g("ü", 1, 10, 10, 10)) } } }),
      msg({
        kind: {
          case: "resultPart",
          value: {
            users: groups(g("z", 1, 20, 20, 20), g("a", 1, -5, -5, -5)),
            tags: groups(g("tier=low", 3, 25, -5, 20)),
            windows: windows({ start: 60, type: "click", count: 2, sum: 30 }, { start: -60, type: "view", count: 1, sum: -5 }),
          },
        },
      }),
      msg({ kind: { case: "end", value: { batches: 2n, physicalLines: 7n, inputBytes: 123n, stages: [{ stage: "aggregate", language: "go" }] } } }),
    ]);
    expect(responses.slice(0, 2).map((r) => r.kind)).toEqual([{ case: "ack", value: 1n }, { case: "ack", value: 2n }]);
    const complete = responses[2]!.kind.case === "complete" ? responses[2]!.kind.value : undefined;
    const results = readFileSync(join(out, "results.json"));
    expect(results.toString()).toBe(
      resultsJson({
        lines: 6, valid: 4, invalid: 2, dropped: 1, aggregated: 3,
        byType: [{ key: "click", count: 2, sum: 30, min: 10, max: 20 }, { key: "view", count: 1, sum: -5, min: -5, max: -5 }],
        byUser: [{ key: "a", count: 1, sum: -5, min: -5, max: -5 }, { key: "z", count: 1, sum: 20, min: 20, max: 20 }, { key: "ü", count: 1, sum: 10, min: 10, max: 10 }],
        byTag: [{ key: "tier=low", count: 3, sum: 25, min: -5, max: 20 }],
        byWindow: [{ start: -60, type: "view", count: 1, sum: -5 }, { start: 60, type: "click", count: 2, sum: 30 }],
      }),
    );
    expect(results.toString()).toContain('"byWindow":[{"start":"1969-12-31T23:59:00Z","type":"view"');
    expect(complete).toMatchObject({ runId: "run-1", lines: 6n, valid: 4n, invalid: 2n, dropped: 1n, aggregated: 3n, batches: 2n });
    expect(complete!.checksum).toBe(createHash("sha256").update(results).digest("hex"));
    expect(complete!.batchLatency!.samples).toBe(2n);
    expect(complete!.stages.map((s) => s.stage)).toEqual(["aggregate", "sink"]);
    expect(readFileSync(join(out, "dead-letters.ndjson"), "utf8")).toBe(
      '{"line":2,"reason":"invalid_json","detail":"bad \\"2\\""}\n{"line":6,"reason":"invalid_event","detail":"bad \\"6\\""}\n',
    );
    const metrics = JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"));
    expect(metrics).toMatchObject({ mode: "split", events: 6, checksum: complete!.checksum, batches: 2, aggregated: 3 });
    expect(metrics.stages.map((s: { stage: string }) => s.stage)).toEqual(["aggregate", "sink"]);
  });

  it("refuses a stream that does not start with a header", async () => {
    const e = await failure([batch(1, 1, 0, 0)]);
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.rawMessage).toBe("sink: the first message must be a RunHeader, got batch");
  });

  it("refuses batches out of order or with dead letters out of order", async () => {
    const out = join(dir, "order");
    let e = await failure([header(out), batch(2, 1, 0, 0)]);
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, "sink: batch 2: expected batch 1 (batches must arrive in order)"]);
    e = await failure([header(out), batch(1, 2, 1, 0, [[5, DeadLetterReason.INVALID_JSON]]), batch(2, 2, 1, 0, [[4, DeadLetterReason.INVALID_JSON]])]);
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, "sink: batch 2: dead letter for line 4 is not after line 5"]);
  });

  it("never writes results whose groups disagree with the counters, or when batches went missing", async () => {
    const out = join(dir, "loss");
    let e = await failure([
      header(out),
      batch(1, 2, 0, 0),
      msg({ kind: { case: "resultPart", value: { types: groups(g("click", 1, 1, 1, 1)) } } }),
      msg({ kind: { case: "end", value: { batches: 1n } } }),
    ]);
    expect(e.code).toBe(Code.DataLoss);
    expect(e.rawMessage).toMatch(/^sink: the byType groups count 1 events but the counters say 2 were aggregated/);
    e = await failure([header(out), batch(1, 0, 0, 0), msg({ kind: { case: "end", value: { batches: 2n } } })]);
    expect([e.code, e.rawMessage]).toEqual([Code.DataLoss, "sink: End says 2 batches were sent, 1 arrived"]);
  });

  it("reads figures beyond 2^53 exactly from the columns", async () => {
    const out = join(dir, "wide");
    const big = 2n ** 60n + 1n;
    await drive([
      header(out),
      batch(1, 2, 0, 0),
      msg({
        kind: {
          case: "resultPart",
          value: {
            types: groups(g("click", 2, big, -(2n ** 62n), 2n ** 62n)),
            users: groups(g("u", 2, -(2n ** 53n) - 1n, -(2n ** 53n), 2n ** 53n - 1n)),
            windows: windows({ start: -120, type: "click", count: 2, sum: -big }),
          },
        },
      }),
      msg({ kind: { case: "end", value: { batches: 1n } } }),
    ]);
    const r = readFileSync(join(out, "results.json"), "utf8");
    expect(r).toContain(`"byType":[{"key":"click","count":2,"sum":${big},"min":${-(2n ** 62n)},"max":${2n ** 62n}}]`);
    expect(r).toContain(`"byUser":[{"key":"u","count":2,"sum":-9007199254740993,"min":-9007199254740992,"max":9007199254740991}]`);
    expect(r).toContain(`"byWindow":[{"start":"1969-12-31T23:58:00Z","type":"click","count":2,"sum":${-big}}]`);
  });

  it("writes the windows of several parts, each with its own type dictionary, in §4.4 order", async () => {
    const ws = Array.from({ length: 40 }, (_, i) => ({ start: Math.floor(i / 3) * 60 - 300, type: ["a\"b", "click", "ü"][i % 3]!, count: i + 1, sum: (i - 20) * 2 ** 40 }));
    const expected = (out: string) =>
      resultsJson({ lines: 3, valid: 3, invalid: 0, dropped: 0, aggregated: 3, byType: [{ key: "click", count: 3, sum: 3, min: 1, max: 1 }], byUser: [], byTag: [], byWindow: ws }) ===
      readFileSync(join(out, "results.json"), "utf8");
    const run = async (out: string, parts: (typeof ws)[]) => {
      await drive([
        header(out),
        batch(1, 3, 0, 0),
        msg({ kind: { case: "resultPart", value: { types: groups(g("click", 3, 3, 1, 1)) } } }),
        ...parts.map((p) => msg({ kind: { case: "resultPart", value: { windows: windows(...p) } } })),
        msg({ kind: { case: "end", value: { batches: 1n } } }),
      ]);
      return expected(out);
    };
    // as aggregate sends them: in order, split over parts
    expect(await run(join(dir, "win-parts"), [ws.slice(0, 7), ws.slice(7, 8), ws.slice(8)])).toBe(true);
    // out of order (not what aggregate sends): sorted first
    expect(await run(join(dir, "win-unsorted"), [ws.slice(20), ws.slice(0, 20).reverse()])).toBe(true);
    // starts in order, types within a start not
    const typesReversed = ws.map((_, i) => ws[Math.floor(i / 3) * 3 + 2 - (i % 3)] ?? ws[i]!);
    expect(await run(join(dir, "win-types"), [typesReversed])).toBe(true);
  });

  it("refuses result columns that do not add up, naming the column", async () => {
    const out = join(dir, "columns");
    const part = (value: unknown) => msg({ kind: { case: "resultPart", value } } as Init);
    const refused = async (value: unknown) => {
      const e = await failure([header(out), batch(1, 1, 0, 0), part(value), msg({ kind: { case: "end", value: { batches: 1n } } })]);
      return [e.code, e.rawMessage];
    };
    const one = groups(g("click", 1, 1, 1, 1));
    expect(await refused({ byType: [{ key: enc.encode("click"), count: 1n }] })).toEqual([
      Code.InvalidArgument,
      "sink: a ResultPart in the row form (by_type … by_window), which is no longer read: the aggregate binary is older than this sink (rebuild with bash scripts/build.d/split.sh)",
    ]);
    expect(await refused({ types: { ...one, sum: one.sum.subarray(0, 7) } })).toEqual([Code.InvalidArgument, "sink: byType.sum holds 7 bytes, expected 1 × 8"]);
    expect(await refused({ types: { ...one, keyEnd: le32([6]) } })).toEqual([Code.InvalidArgument, "sink: byType.key_end[0] = 6 is outside 0..5"]);
    expect(await refused({ types: { ...one, keyEnd: le32([4]) } })).toEqual([Code.InvalidArgument, "sink: byType.keys holds 5 bytes, the keys end at 4"]);
    expect(await refused({ tags: { ...one, keys: new Uint8Array([0x61, 0xff, 0x62, 0x63, 0x64]) } })).toEqual([Code.InvalidArgument, "sink: byTag key 0 is not valid UTF-8"]);
    const w = windows({ start: 0, type: "click", count: 1, sum: 1 });
    expect(await refused({ types: one, windows: { ...w, typeIndex: le32([1]) } })).toEqual([
      Code.InvalidArgument,
      "sink: byWindow.type_index[0] = 1, but type_dict has 1 entries",
    ]);
    expect(await refused({ types: one, windows: { ...w, start: le64([2n ** 62n]) } })).toEqual([
      Code.InvalidArgument,
      `sink: byWindow.start[0] = ${2n ** 62n} is not a representable time`,
    ]);
  });

  it("pass-through: acknowledges batches with payloads and writes only metrics.json", async () => {
    const out = join(dir, "pass");
    const responses = await drive([
      header(out, { passthrough: true }),
      msg({ kind: { case: "batch", value: { meta: { traceId: 1n }, counters: { lines: 2n }, payload: { case: "raw", value: { data: enc.encode("{}\n{}\n") } } } } }),
      msg({ kind: { case: "end", value: { batches: 1n } } }),
    ]);
    expect(responses.map((r) => r.kind.case)).toEqual(["ack", "complete"]);
    expect(JSON.parse(readFileSync(join(out, "metrics.json"), "utf8"))).toMatchObject({ mode: "split-passthrough", events: 2 });
    expect(() => readFileSync(join(out, "results.json"))).toThrow();
  });
});

describe("sink, checkpointed", () => {
  const barrier = (n: number): StageRequest => msg({ kind: { case: "barrier", value: { checkpointId: BigInt(n) } } });
  const results = msg({ kind: { case: "resultPart", value: { types: groups(g("click", 4, 40, 10, 10)) } } });
  const end = (batches: number) => msg({ kind: { case: "end", value: { batches: BigInt(batches), physicalLines: 12n, inputBytes: 1n } } });
  const dl = (n: number): [number, DeadLetterReason] => [n, DeadLetterReason.INVALID_JSON];

  it("saves its state at each barrier, answers checkpoint_done, and keeps the three newest", async () => {
    const out = join(dir, "ck-save");
    const checkpointDir = join(dir, "ck-save-state");
    const responses = await drive([
      header(out, { checkpointDir }),
      batch(1, 2, 1, 0, [dl(1)]),
      barrier(1),
      batch(2, 2, 0, 0),
      barrier(2),
      barrier(3),
      batch(3, 2, 1, 0, [dl(6)]),
      barrier(4),
      results,
      end(3),
    ]);
    expect(responses.filter((r) => r.kind.case === "checkpointDone").map((r) => r.kind.value)).toEqual([1n, 2n, 3n, 4n]);
    expect(readdirSync(checkpointDir).sort()).toEqual(["sink-2.json", "sink-3.json", "sink-4.json"]);
    const s2 = JSON.parse(readFileSync(join(checkpointDir, "sink-2.json"), "utf8"));
    expect(s2).toMatchObject({ runId: "run-1", checkpoint: "2", lines: "4", invalid: "1", batches: "2", deadLetters: { count: 1, lastLine: "1" } });
    expect(s2.deadLetters.bytes).toBe(readFileSync(join(out, "dead-letters.ndjson")).indexOf("\n") + 1);
    expect(responses.at(-1)!.kind).toMatchObject({ case: "complete", value: { checkpoints: 4n } });
  });

  it("resumes from a checkpoint: counts as saved, dead letters cut back, results as if never interrupted", async () => {
    const checkpointDir = join(dir, "ck-resume-state");
    const straight = join(dir, "ck-straight");
    const all = [batch(1, 2, 1, 0, [dl(1)]), batch(2, 2, 0, 0), batch(3, 2, 1, 0, [dl(6)])];
    await drive([header(straight), ...all, results, end(3)]);
    // attempt 1 saves checkpoint 1 after batch 1, gets batch 2 and 3 and then breaks
    const out = join(dir, "ck-resumed");
    const broken = async function* () {
      yield header(out, { checkpointDir, attempt: 1 });
      yield all[0]!;
      yield barrier(1);
      yield all[1]!;
      yield all[2]!;
      throw new ConnectError("aggregate went away", Code.Unavailable);
    };
    await expect(async () => {
      for await (const _ of sinkRun(broken(), log)) void _;
    }).rejects.toThrow("aggregate went away");
    expect(readFileSync(join(out, "dead-letters.ndjson"), "utf8").split("\n").filter(Boolean)).toHaveLength(2);
    // attempt 2 resumes from checkpoint 1: batches 2 and 3 again
    const responses = await drive([header(out, { checkpointDir, attempt: 2, resumeCheckpoint: 1n }), all[1]!, all[2]!, results, end(3)]);
    expect(responses.at(-1)!.kind).toMatchObject({ case: "complete", value: { lines: 6n, invalid: 2n, batches: 3n, attempts: 2 } });
    for (const f of ["results.json", "dead-letters.ndjson"]) {
      expect(readFileSync(join(out, f), "utf8")).toBe(readFileSync(join(straight, f), "utf8"));
    }
  });

  it("fails with FAILED_PRECONDITION when the checkpoint to resume from is missing", async () => {
    const e = await failure([header(join(dir, "ck-missing"), { checkpointDir: join(dir, "nowhere"), resumeCheckpoint: 7n })]);
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.rawMessage).toBe(`sink: checkpoint 7 of run run-1 not found in ${join(dir, "nowhere")}`);
  });

  it("ends an older attempt of the same run when a newer one starts, without letting it write", async () => {
    const out = join(dir, "ck-supersede");
    const checkpointDir = join(dir, "ck-supersede-state");
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const older = async function* () {
      yield header(out, { checkpointDir, attempt: 1 });
      yield batch(1, 2, 1, 0, [dl(1)]);
      yield barrier(1);
      await gate;
      yield batch(2, 2, 1, 0, [dl(3)]);
    };
    const olderRun = (async () => {
      for await (const _ of sinkRun(older(), log)) void _;
    })().then(() => undefined, (e: unknown) => ConnectError.from(e));
    await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(join(checkpointDir, "sink-1.json"))).toBe(true);
    const three = msg({ kind: { case: "resultPart", value: { types: groups(g("click", 3, 30, 10, 10)) } } });
    const newer = drive([header(out, { checkpointDir, attempt: 2, resumeCheckpoint: 1n }), batch(2, 2, 0, 0), three, end(2)]);
    await newer;
    release();
    const e = await olderRun;
    expect(e).toBeInstanceOf(ConnectError);
    expect((e as ConnectError).code).toBe(Code.Aborted);
    expect((e as ConnectError).rawMessage).toBe("sink: attempt 1 of run run-1 was superseded by a newer attempt");
    // only the dead letter of batch 1 (from the checkpoint): the older attempt's line 3 never landed
    expect(readFileSync(join(out, "dead-letters.ndjson"), "utf8").split("\n").filter(Boolean).map((l) => JSON.parse(l).line)).toEqual([1]);
  });
});
