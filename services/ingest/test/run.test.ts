// runIngest against a real h2c server standing in for parse: it checks what arrives, holds
// back acknowledgements to prove the window bounds what is in flight, and fails on demand.
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  ParseService,
  PublishRequestSchema,
  RunCompleteSchema,
  RunRequestSchema,
  StageResponseSchema,
  type Batch,
  type RunHeader,
  type RunProgress,
  type StageRequest,
  type StageMetrics,
  type StageResponse,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { createLogger } from "@modular-runtime/service-kit";
import http2 from "node:http2";
import { once } from "node:events";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LiveRuns, MAX_PUBLISH_BYTES } from "../src/live.js";
import { runIngest, type IngestDeps } from "../src/run.js";

const dir = mkdtempSync(join(tmpdir(), "ingest-run-"));
const log = createLogger({ service: "ingest", write: () => undefined });

interface Seen {
  header?: RunHeader;
  batches: Batch[];
  maxUnacked: number;
}

/** What the fake parse does with the current run; replaced per test. */
let behaviour: (requests: AsyncIterable<StageRequest>, seen: Seen) => AsyncIterable<StageResponse>;
let seen: Seen;
let server: http2.Http2Server;
let address = "";

/** Batches whose lines came through shared memory, in the current run. */
let sharedSeen = 0;

/** The rings opened, by path: like parse, the fake keeps a ring open once it has it. */
const rings = new Map<string, number>();

/**
 * What parse does with a batch whose lines are in shared memory, before it acknowledges it:
 * reads them from the ring (here with pread, where parse maps the file; ingest removes the
 * file's name after the first acknowledgement). The batch is kept with its lines as `data`,
 * as if they had come inline.
 */
function keep(b: Batch): Batch {
  if (b.payload.case === "raw" && b.payload.value.shared) {
    const { path, offset, length } = b.payload.value.shared;
    expect(path.startsWith("/dev/shm/modular-runtime-ingest-")).toBe(true);
    const data = Buffer.alloc(Number(length));
    let fd = rings.get(path);
    if (fd === undefined) rings.set(path, (fd = openSync(path, "r")));
    expect(readSync(fd, data, 0, data.length, Number(offset))).toBe(data.length);
    b.payload.value.data = data;
    b.payload.value.shared = undefined;
    sharedSeen++;
  }
  return b;
}

/** Acks every batch and completes on End. */
async function* echo(requests: AsyncIterable<StageRequest>, s: Seen): AsyncIterable<StageResponse> {
  for await (const r of requests) {
    if (r.kind.case === "header") s.header = r.kind.value;
    else if (r.kind.case === "batch") {
      s.batches.push(keep(r.kind.value));
      yield create(StageResponseSchema, { kind: { case: "ack", value: r.kind.value.meta!.traceId } });
    } else if (r.kind.case === "end") {
      yield complete(s, r.kind.value.batches, r.kind.value.stages);
      return;
    }
  }
}

function complete(s: Seen, batches: bigint, stages: StageMetrics[] = []): StageResponse {
  return create(StageResponseSchema, {
    kind: { case: "complete", value: create(RunCompleteSchema, { runId: s.header?.runId ?? "", checksum: "abc", batches, stages }) },
  });
}

/** A slow consumer: reads whatever arrives at once, but acknowledges one batch every `everyMs`. */
async function* slow(requests: AsyncIterable<StageRequest>, s: Seen, everyMs: number): AsyncIterable<StageResponse> {
  let ended: bigint | undefined;
  let acked = 0;
  void (async () => {
    for await (const r of requests) {
      if (r.kind.case === "batch") s.batches.push(keep(r.kind.value));
      if (r.kind.case === "end") ended = r.kind.value.batches;
    }
  })();
  for (;;) {
    await new Promise((res) => setTimeout(res, everyMs));
    s.maxUnacked = Math.max(s.maxUnacked, s.batches.length - acked);
    if (acked < s.batches.length) {
      yield create(StageResponseSchema, { kind: { case: "ack", value: s.batches[acked++]!.meta!.traceId } });
    } else if (ended !== undefined) {
      yield complete(s, ended);
      return;
    }
  }
}

beforeAll(async () => {
  server = http2.createServer(
    connectNodeAdapter({ routes: (router) => router.service(ParseService, { process: (requests) => behaviour(requests, seen) }) }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
  for (const fd of rings.values()) closeSync(fd);
  rmSync(dir, { recursive: true, force: true });
});

const topology = (known: boolean) =>
  ({ lookupService: async () => ({ instances: known ? [{ address }] : [] }) }) as unknown as Client<typeof TopologyService>;

async function run(fields: Record<string, unknown>, opts: { known?: boolean; deps?: Partial<IngestDeps> } = {}): Promise<RunProgress[]> {
  seen = { batches: [], maxUnacked: 0 };
  sharedSeen = 0;
  const out: RunProgress[] = [];
  const req = create(RunRequestSchema, { outDir: join(dir, "out"), ...fields });
  const deps = { topology: topology(opts.known ?? true), log, downstream: "parse", lookupTimeoutMs: 300, progressIntervalMs: 20, ...opts.deps };
  for await (const p of runIngest(req, deps, new AbortController().signal)) out.push(p);
  return out;
}

async function runError(fields: Record<string, unknown>, opts: { known?: boolean } = {}): Promise<ConnectError> {
  try {
    await run(fields, opts);
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("the run succeeded");
}

function input(lines: number): string {
  const path = join(dir, `in-${lines}.ndjson`);
  writeFileSync(path, Array.from({ length: lines }, (_, i) => `{"n":${i + 1}}`).join("\n") + "\n");
  return path;
}

describe("runIngest", () => {
  it("sends the header, every line once in order, End with its metrics, and returns the RunComplete", async () => {
    behaviour = (r, s) => echo(r, s);
    const progress = await run({ inputPath: input(2500), batchSize: 1000, rulesJson: '{"drop":[]}', partitions: 3 });
    expect(seen.header).toMatchObject({ rulesJson: '{"drop":[]}', partitions: 3, batchSize: 1000, outDir: join(dir, "out") });
    expect(seen.batches.map((b) => b.meta!.traceId)).toEqual([1n, 2n, 3n]);
    const text = seen.batches.map((b) => (b.payload.case === "raw" ? Buffer.from(b.payload.value.data).toString() : "")).join("");
    expect(text).toBe(Array.from({ length: 2500 }, (_, i) => `{"n":${i + 1}}\n`).join(""));
    const last = progress.at(-1)!;
    expect(last.complete).toMatchObject({ checksum: "abc", batches: 3n });
    expect(last.complete!.stages[0]).toMatchObject({ stage: "ingest", language: "typescript", batchesOut: 3n, eventsOut: 2500n });
    expect(last.linesRead).toBe(2500n);
  });

  it("hands parse the lines through shared memory, inline on request, and leaves no ring behind", async () => {
    behaviour = (r, s) => echo(r, s);
    const path = input(5000);
    const expected = readFileSync(path, "utf8");
    const text = () => seen.batches.map((b) => (b.payload.case === "raw" ? Buffer.from(b.payload.value.data).toString() : "")).join("");
    const mine = () => readdirSync("/dev/shm").filter((n) => n.startsWith(`modular-runtime-ingest-${process.pid}-`));
    const lines: string[] = [];
    const logged = createLogger({ service: "ingest", write: (l) => lines.push(l) });
    const completeLine = () => JSON.parse(lines.find((l) => l.includes('"run complete:'))!) as Record<string, unknown>;
    await run({ inputPath: path, batchSize: 400 }, { deps: { log: logged } });
    expect(seen.batches).toHaveLength(13);
    expect(sharedSeen).toBe(13); // one slot per batch in flight: every batch found one
    expect(text()).toBe(expected);
    expect(mine()).toEqual([]);
    expect(completeLine()).toMatchObject({ sharedBatches: 13, inlineBatches: 0 });
    lines.length = 0;
    await run({ inputPath: path, batchSize: 400, inlineLines: true }, { deps: { log: logged } });
    expect(sharedSeen).toBe(0);
    expect(text()).toBe(expected);
    expect(completeLine()).toMatchObject({ sharedBatches: 0, inlineBatches: 13 });
  });

  it("sends the lines inline, with a warning, when it cannot make a ring", async () => {
    behaviour = (r, s) => echo(r, s);
    const lines: string[] = [];
    const warnLog = createLogger({ service: "ingest", write: (l) => lines.push(l) });
    const makeRing = () => ({ error: "/dev/shm is full" });
    await run({ inputPath: input(500), batchSize: 100 }, { deps: { log: warnLog, makeRing } });
    expect(sharedSeen).toBe(0);
    expect(seen.batches).toHaveLength(5);
    expect(lines.some((l) => l.includes('"level":"warn"') && l.includes("sending it inline: /dev/shm is full"))).toBe(true);
  });

  it("sends every line intact from a file of several 8 MiB read chunks", async () => {
    behaviour = (r, s) => echo(r, s);
    const lines = Array.from({ length: 300_000 }, (_, i) => `{"n":${i + 1},"pad":"${"x".repeat(i % 150)}"}`);
    const path = join(dir, "big.ndjson");
    writeFileSync(path, lines.join("\n") + "\n");
    await run({ inputPath: path, batchSize: 7000 });
    const text = seen.batches.map((b) => (b.payload.case === "raw" ? Buffer.from(b.payload.value.data).toString() : "")).join("");
    expect(text === lines.join("\n") + "\n").toBe(true);
  });

  it("never has more than `window` batches unacknowledged downstream", async () => {
    behaviour = (r, s) => slow(r, s, 3);
    await run({ inputPath: input(400), batchSize: 10, window: 3 });
    expect(seen.batches).toHaveLength(40);
    expect(seen.maxUnacked).toBe(3);
  });

  it("fails with the downstream's code, naming both stages", async () => {
    behaviour = async function* (requests) {
      for await (const r of requests) {
        if (r.kind.case === "batch" && r.kind.value.meta!.traceId === 2n) throw new ConnectError("parse: batch 2: line_numbers has 7 bytes", Code.InvalidArgument);
        if (r.kind.case === "batch") yield create(StageResponseSchema, { kind: { case: "ack", value: r.kind.value.meta!.traceId } });
      }
    };
    const e = await runError({ inputPath: input(100), batchSize: 10 });
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, "ingest: parse failed: parse: batch 2: line_numbers has 7 bytes"]);
  });

  it("fails when the downstream ends without completing the run", async () => {
    behaviour = async function* (requests) {
      for await (const r of requests) if (r.kind.case === "end") return;
    };
    const e = await runError({ inputPath: input(10) });
    expect([e.code, e.rawMessage]).toEqual([Code.Internal, "ingest: parse failed: parse closed the stream without a RunComplete"]);
  });

  it("rejects bad requests with a message naming the value", async () => {
    behaviour = (r, s) => echo(r, s);
    let e = await runError({ inputPath: "relative.ndjson" });
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, 'ingest: input_path must be absolute, got "relative.ndjson"']);
    e = await runError({ inputPath: join(dir, "missing.ndjson") });
    expect(e.code).toBe(Code.NotFound);
    expect(e.rawMessage).toContain(`ingest: cannot read input_path "${join(dir, "missing.ndjson")}"`);
    e = await runError({ inputPath: dir });
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, `ingest: input_path "${dir}" is not a file`]);
    e = await runError({ inputPath: input(1), batchSize: 2_000_000 });
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, "ingest: batch_size must be between 1 and 1000000, got 2000000"]);
  });

  it("gives up with UNAVAILABLE when parse is not registered", async () => {
    const e = await runError({ inputPath: input(1) }, { known: false });
    expect([e.code, e.rawMessage]).toEqual([Code.Unavailable, "ingest: downstream parse is not registered with the topology"]);
  });
});

describe("live runs (Publish)", () => {
  const enc = new TextEncoder();
  const publish = (lines: string, endRun = false) => create(PublishRequestSchema, { lines: enc.encode(lines), endRun });
  const live = (idleMs = 60_000) => new LiveRuns({ topology: topology(true), log, downstream: "parse", liveDir: join(dir, "live"), idleMs });

  it("numbers lines across calls, one batch per call in call order, and ends with the run's outcome", async () => {
    behaviour = (r, s) => echo(r, s);
    seen = { batches: [], maxUnacked: 0 };
    const runs = live();
    const [a, b] = await Promise.all([runs.publish(publish('{"n":1}\n\n{"n":3}\n')), runs.publish(publish('{"n":4}'))]);
    const c = await runs.publish(publish('{"n":5}\n', true));
    expect([a, b, c].map((r) => [r.traceId, r.firstLine, r.lines])).toEqual([[1n, 1n, 3n], [2n, 4n, 1n], [3n, 5n, 1n]]);
    expect(new Set([a.runId, b.runId, c.runId]).size).toBe(1);
    expect(seen.header).toMatchObject({ runId: a.runId, rulesJson: "", outDir: join(dir, "live", a.runId) });
    expect(seen.batches.map((x) => (x.payload.case === "raw" ? [...new BigUint64Array(new Uint8Array(x.payload.value.lineNumbers).buffer)] : []))).toEqual([[1n, 3n], [4n], [5n]]);
    expect(c.complete).toMatchObject({ batches: 3n });
    // the next publish starts a new live run
    const d = await runs.publish(publish('{"n":1}\n', true));
    expect(d.runId).not.toBe(a.runId);
    expect(d.firstLine).toBe(1n);
  });

  it("ends an idle live run by itself", async () => {
    behaviour = (r, s) => echo(r, s);
    seen = { batches: [], maxUnacked: 0 };
    const runs = live(100);
    const a = await runs.publish(publish('{"n":1}\n'));
    await expect.poll(async () => (await runs.publish(publish('{"n":2}\n'))).runId, { timeout: 5000, interval: 300 }).not.toBe(a.runId);
  });

  it("refuses more than 4 MiB of lines", async () => {
    const e = await live().publish(create(PublishRequestSchema, { lines: new Uint8Array(MAX_PUBLISH_BYTES + 1) })).then(() => new Error("accepted"), (x: unknown) => ConnectError.from(x)) as ConnectError;
    expect([e.code, e.rawMessage]).toEqual([Code.InvalidArgument, `ingest: Publish takes at most 4194304 bytes of lines, got ${MAX_PUBLISH_BYTES + 1}`]);
  });
});

/** Line numbers a raw batch carries. */
const lineNos = (b: Batch) => (b.payload.case === "raw" ? [...new BigUint64Array(new Uint8Array(b.payload.value.lineNumbers).buffer)].map(Number) : []);

/**
 * A parse that confirms every barrier at once (as if the sink had saved it), and fails the
 * stream with `failWith` after `failAfter` batches of attempt `failAttempt`.
 */
function checkpointing(opts: { failAfter?: number; failAttempt?: number; failWith?: Code; attempts: RunHeader[]; barriers: bigint[][] }) {
  return async function* (requests: AsyncIterable<StageRequest>, s: Seen): AsyncIterable<StageResponse> {
    let n = 0;
    let header: RunHeader | undefined;
    for await (const r of requests) {
      if (r.kind.case === "header") {
        header = s.header = r.kind.value;
        opts.attempts.push(header);
        opts.barriers.push([]);
      } else if (r.kind.case === "batch") {
        if (header?.attempt === (opts.failAttempt ?? 1) && n++ === opts.failAfter) {
          throw new ConnectError("parse: rules failed: connection reset", opts.failWith ?? Code.Unavailable);
        }
        s.batches.push(keep(r.kind.value));
        yield create(StageResponseSchema, { kind: { case: "ack", value: r.kind.value.meta!.traceId } });
      } else if (r.kind.case === "barrier") {
        opts.barriers[opts.barriers.length - 1]!.push(r.kind.value.checkpointId);
        yield create(StageResponseSchema, { kind: { case: "checkpointDone", value: r.kind.value.checkpointId } });
      } else if (r.kind.case === "end") {
        yield complete(s, r.kind.value.batches, r.kind.value.stages);
        return;
      }
    }
  };
}

describe("runIngest, checkpointed", () => {
  const ckpt = () => mkdtempSync(join(dir, "ckpt-"));

  it("sends barriers between batches and commits each confirmed one to ingest.json", async () => {
    const attempts: RunHeader[] = [];
    const barriers: bigint[][] = [];
    behaviour = checkpointing({ attempts, barriers });
    const checkpointDir = ckpt();
    const out = await run({ inputPath: input(1000), batchSize: 10, window: 2, maxWaitMs: 1000, checkpointDir, checkpointIntervalMs: 1, runId: "r1" });
    expect(barriers[0]!.length).toBeGreaterThan(3);
    expect(barriers[0]).toEqual(barriers[0]!.map((_, i) => BigInt(i + 1)));
    const commit = JSON.parse(readFileSync(join(checkpointDir, "ingest.json"), "utf8"));
    expect(commit).toMatchObject({ runId: "r1", checkpoint: String(barriers[0]!.at(-1)), attempt: 1 });
    // the committed position is a batch boundary: line 10·k, offset of the line after it
    expect(commit.line % 10).toBe(0);
    expect(commit.nextTrace).toBe(String(commit.line / 10 + 1));
    expect(out.at(-1)!.complete).toMatchObject({ attempts: 1, replayedBatches: 0n, checkpoints: BigInt(commit.checkpoint) });
  });

  it("after a stage fails, opens the chain again from the last committed checkpoint and replays from there", async () => {
    const attempts: RunHeader[] = [];
    const barriers: bigint[][] = [];
    behaviour = checkpointing({ attempts, barriers, failAfter: 40 });
    const out = await run({ inputPath: input(1000), batchSize: 10, window: 2, maxWaitMs: 1000, checkpointDir: ckpt(), checkpointIntervalMs: 1, runId: "r2" });
    expect(attempts.map((h) => h.attempt)).toEqual([1, 2]);
    const resumed = attempts[1]!.resumeCheckpoint;
    expect(resumed).toBeGreaterThan(0n);
    expect(attempts[1]!.startedUnixNs).toBe(attempts[0]!.startedUnixNs);
    // every batch of the second attempt comes after the resumed checkpoint, in order, to the end
    const second = seen.batches.slice(40);
    const first = Number(second[0]!.meta!.traceId);
    expect(first).toBeLessThanOrEqual(41);
    expect(second.map((b) => Number(b.meta!.traceId))).toEqual(Array.from({ length: 101 - first }, (_, i) => first + i));
    expect(lineNos(second[0]!)[0]).toBe((first - 1) * 10 + 1);
    expect(barriers[1]![0]).toBe(resumed + 1n);
    const done = out.at(-1)!.complete!;
    expect(done).toMatchObject({ attempts: 2, batches: 100n });
    // the first attempt sent batches up to 41 (the one that failed), or 42 (window 2): those
    // after the checkpoint are sent again
    expect(Number(done.replayedBatches)).toBeGreaterThanOrEqual(42 - first);
    expect(Number(done.replayedBatches)).toBeLessThanOrEqual(43 - first);
    expect(out.some((p) => p.lastFailure === "ingest: parse failed: parse: rules failed: connection reset")).toBe(true);
  });

  it("does not retry a failure that is the run's own fault", async () => {
    const attempts: RunHeader[] = [];
    behaviour = checkpointing({ attempts, barriers: [], failAfter: 2, failWith: Code.InvalidArgument });
    const e = await runError({ inputPath: input(50), batchSize: 10, checkpointDir: ckpt(), checkpointIntervalMs: 1 });
    expect(e.code).toBe(Code.InvalidArgument);
    expect(attempts).toHaveLength(1);
  });

  it("gives up when the chain does not come back within recovery_timeout_ms", async () => {
    behaviour = async function* () {
      yield* [];
      throw new ConnectError("parse: rules failed: gone", Code.Unavailable);
    };
    const e = await runError({ inputPath: input(50), batchSize: 10, checkpointDir: ckpt(), recoveryTimeoutMs: 300 });
    expect(e.code).toBe(Code.Unavailable);
    expect(e.rawMessage).toMatch(/^ingest: gave up after 300 ms of failed attempts: /);
  });

  it("resumes a run from ingest.json (ingest itself was restarted)", async () => {
    const attempts: RunHeader[] = [];
    behaviour = checkpointing({ attempts, barriers: [] });
    const checkpointDir = ckpt();
    const path = input(100);
    // lines 1–40 (batches 1–4) were committed as checkpoint 3 by the instance that died
    const offset = Buffer.byteLength(Array.from({ length: 40 }, (_, i) => `{"n":${i + 1}}\n`).join(""));
    writeFileSync(
      join(checkpointDir, "ingest.json"),
      JSON.stringify({ runId: "r3", inputPath: path, checkpoint: "3", offset, line: 40, nextTrace: "5", attempt: 2, startedUnixNs: "123" }),
    );
    const out = await run({ inputPath: path, batchSize: 10, maxWaitMs: 1000, checkpointDir, runId: "r3", resume: true });
    expect(attempts[0]).toMatchObject({ attempt: 3, resumeCheckpoint: 3n, startedUnixNs: 123n });
    expect(seen.batches.map((b) => Number(b.meta!.traceId))).toEqual([5, 6, 7, 8, 9, 10]);
    expect(lineNos(seen.batches[0]!)[0]).toBe(41);
    expect(seen.batches[0]!.meta).toMatchObject({ firstOffset: BigInt(offset), firstLine: 41n });
    expect(out.at(-1)!.complete).toMatchObject({ batches: 10n, attempts: 3 });
  });

  it("refuses to resume another run's checkpoint", async () => {
    const checkpointDir = ckpt();
    const path = input(10);
    writeFileSync(join(checkpointDir, "ingest.json"), JSON.stringify({ runId: "other", inputPath: path, checkpoint: "1" }));
    const e = await runError({ inputPath: path, checkpointDir, runId: "r4", resume: true });
    expect(e.code).toBe(Code.FailedPrecondition);
    expect(e.rawMessage).toContain("belongs to run other");
  });
});
