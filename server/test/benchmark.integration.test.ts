// BenchmarkService on a real control server running the real `pipeline bench` (small inputs):
// the streamed progress, the report being the CLI's own files, the history, one benchmark at a
// time, cancellation, shutdown and bad input. Asserts behaviour, never timings.

import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import {
  BenchmarkPhase,
  BenchmarkService,
  BenchmarkStatus,
  type BenchmarkProgress,
  type RunBenchmarkRequest,
} from "@modular-runtime/proto/runtime/v1/benchmark";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { RunBenchmarkRequestSchema } from "@modular-runtime/proto/runtime/v1/benchmark";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
let dir: string;
let client: ReturnType<typeof createClient<typeof BenchmarkService>>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "mr-bench-service-"));
  server = await startTestServer({ benchDir: dir });
  client = createClient(BenchmarkService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
});

afterAll(async () => {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

async function collect(req: MessageInitShape<typeof RunBenchmarkRequestSchema>, onMessage?: (m: BenchmarkProgress) => void): Promise<BenchmarkProgress[]> {
  const out: BenchmarkProgress[] = [];
  for await (const m of client.runBenchmark(req)) {
    out.push(m);
    onMessage?.(m);
  }
  return out;
}

async function collectWatch(runId: string): Promise<BenchmarkProgress[]> {
  const out: BenchmarkProgress[] = [];
  for await (const m of client.watchRun({ runId })) out.push(m);
  return out;
}

async function rejection(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (e) {
    return ConnectError.from(e);
  }
  throw new Error("expected a rejection");
}

describe("BenchmarkService", () => {
  it("runs the CLI's bench, streams its progress and returns the very report the CLI wrote", async () => {
    const msgs = await collect({ modes: ["duckdb", "monolith"], events: [3000n], warmupRuns: 1, runs: 1, seed: 7n });
    const id = msgs[0]!.runId;
    expect(msgs[0]!.phase).toBe(BenchmarkPhase.PREPARING);
    expect(msgs.every((m) => m.runId === id)).toBe(true);
    // duckdb-sql joins duckdb: 3 modes × (1 warm-up + 1 counted run).
    const completed = msgs.filter((m) => m.completed).map((m) => m.completed!);
    expect(completed).toHaveLength(6);
    expect(completed.filter((c) => c.warmup).map((c) => c.mode).sort()).toEqual(["duckdb", "duckdb-sql", "monolith"]);
    expect(new Set(completed.map((c) => c.checksum)).size).toBe(1);
    expect(completed.every((c) => c.exitCode === 0 && c.eventsPerSecond > 0)).toBe(true);
    expect(msgs.some((m) => m.phase === BenchmarkPhase.MEASURING && m.mode !== "")).toBe(true);
    expect(msgs.at(-1)!.stepsTotal === 0 || msgs.filter((m) => m.stepsTotal > 0).every((m) => m.stepsTotal === 6)).toBe(true);

    const last = msgs.at(-1)!;
    expect(last.phase).toBe(BenchmarkPhase.DONE);
    const run = last.run!;
    expect(run.status).toBe(BenchmarkStatus.PASSED);
    expect(run.origin).toBe("dashboard");
    expect(run.checksumsAgree).toBe(true);
    expect(run.monolithVsDuckdbSql).toBeGreaterThan(0);
    const report = JSON.parse(run.reportJson);
    expect(report.id).toBe(id);
    expect(report.summaries.map((s: { mode: string }) => s.mode)).toEqual(["duckdb", "duckdb-sql", "monolith"]);
    expect(report.options).toMatchObject({ runs: 1, warmup: 1, seed: 7, events: [3000] });
    // The CLI's own files for this run say the same.
    expect(readFileSync(join(dir, "runs", id, "bench.json"), "utf8")).toBe(run.reportJson);
    expect(readFileSync(join(dir, "runs", id, "bench.md"), "utf8")).toBe(run.reportMarkdown);
    expect(run.reportMarkdown).toMatch(/^# Pipeline benchmark/);

    const listed = await client.listRuns({});
    expect(listed.runs[0]!.runId).toBe(id);
    expect(listed.runs[0]!.reportJson).toBe("");
    const got = await client.getRun({ runId: id });
    expect(got.reportJson).toBe(run.reportJson);
    expect((await client.cancelRun({ runId: id })).cancelled).toBe(false);
  }, 120_000);

  it("names bad arguments with INVALID_ARGUMENT and starts nothing", async () => {
    const cases: [MessageInitShape<typeof RunBenchmarkRequestSchema>, RegExp][] = [
      [{ modes: ["duckdb", "spark"] }, /modes\[1\] "spark" is not one of duckdb, monolith, split/],
      [{ events: [0n] }, /events\[0\] must be 1\.\.100000000, got 0/],
      [{ distribution: "normal" }, /distribution must be one of uniform, zipf, burst, got "normal"/],
      [{ runs: 50 }, /runs must be 0 \(default 3\) or 1\.\.20, got 50/],
      [{ scalingPartitions: [2, 100] }, /scaling_partitions\[1\] must be 1\.\.64, got 100/],
      [{ modes: ["duckdb"], scalingPartitions: [1, 2] }, /add one of them to modes/],
    ];
    const before = (await client.listRuns({})).runs.length;
    for (const [req, message] of cases) {
      const err = await rejection(collect(req));
      expect(err.code, message.source).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toMatch(message);
    }
    expect((await client.listRuns({})).runs.length).toBe(before);
  });

  it("lets one benchmark run at a time; a detached one outlives its stream, is followed with WatchRun and stopped with CancelRun", async () => {
    // Enough runs that it is still going when cancelled.
    const abort = new AbortController();
    let id = "";
    const seen: BenchmarkProgress[] = [];
    try {
      for await (const m of client.runBenchmark({ modes: ["duckdb"], events: [20_000n], warmupRuns: 0, runs: 20, detach: true }, { signal: abort.signal })) {
        id = m.runId;
        seen.push(m);
        if (m.completed) abort.abort(); // drop the stream after the first finished run
      }
    } catch (e) {
      expect(ConnectError.from(e).code).toBe(Code.Canceled);
    }
    expect(seen.filter((m) => m.completed)).toHaveLength(1);
    // Still running without its stream.
    expect((await client.listRuns({})).runs[0]).toMatchObject({ runId: id, status: BenchmarkStatus.RUNNING });
    expect(await client.getRun({ runId: id })).toMatchObject({ status: BenchmarkStatus.RUNNING });
    const busy = await rejection(collect({ modes: ["monolith"], events: [1000n] }));
    expect(busy.code).toBe(Code.FailedPrecondition);
    expect(busy.rawMessage).toContain(id);

    // A late follower gets what happened so far, then the rest.
    let sawReplay!: () => void;
    const replayed = new Promise<void>((r) => (sawReplay = r));
    const watched: BenchmarkProgress[] = [];
    const watching = (async () => {
      for await (const m of client.watchRun({ runId: id })) {
        watched.push(m);
        if (m.completed) sawReplay();
      }
    })();
    await replayed;
    expect(watched[0]).toMatchObject({ runId: id, phase: BenchmarkPhase.PREPARING });
    expect(watched.find((m) => m.completed)!.completed!.runIndex).toBe(1);

    expect((await client.cancelRun({ runId: id })).cancelled).toBe(true);
    await watching;
    const last = watched.at(-1)!;
    expect(last.phase).toBe(BenchmarkPhase.CANCELLED);
    expect(last.run!.status).toBe(BenchmarkStatus.CANCELLED);
    expect(watched.filter((m) => m.completed).length).toBeLessThan(20);
    expect((await client.getRun({ runId: id })).status).toBe(BenchmarkStatus.CANCELLED);
    // Watching an ended run gives its final message at once.
    const again: BenchmarkProgress[] = [];
    for await (const m of client.watchRun({ runId: id })) again.push(m);
    expect(again.map((m) => m.phase)).toEqual([BenchmarkPhase.CANCELLED]);
    // The next one may start.
    const after = await collect({ modes: ["monolith"], events: [1000n], runs: 1 });
    expect(after.at(-1)!.run!.status).toBe(BenchmarkStatus.PASSED);
  }, 120_000);

  it("cancels a benchmark whose stream is dropped, unless detached", async () => {
    const abort = new AbortController();
    let id = "";
    try {
      for await (const m of client.runBenchmark({ modes: ["duckdb"], events: [20_000n], runs: 20 }, { signal: abort.signal })) {
        id = m.runId;
        abort.abort();
      }
    } catch {
      // cancelled by us
    }
    await expect.poll(async () => (await client.getRun({ runId: id })).status, { timeout: 30_000 }).toBe(BenchmarkStatus.CANCELLED);
  }, 60_000);

  it("fails a split benchmark clearly when the server runs no split stages", async () => {
    const msgs = await collect({ modes: ["split"], events: [1000n], runs: 1 });
    const last = msgs.at(-1)!;
    expect(last.phase).toBe(BenchmarkPhase.FAILED);
    expect(last.run!.status).toBe(BenchmarkStatus.FAILED);
    expect(last.message).toMatch(/split stages missing: ingest, parse, rules, aggregate, sink/);
  }, 60_000);

  it("answers unknown and malformed run ids", async () => {
    expect((await rejection(client.getRun({ runId: "20200101T000000Z-000000" }))).code).toBe(Code.NotFound);
    const bad = await rejection(client.getRun({ runId: "../etc/passwd" }));
    expect(bad.code).toBe(Code.InvalidArgument);
    expect(bad.rawMessage).toContain('"../etc/passwd"');
    expect((await rejection(client.cancelRun({ runId: "nope" }))).code).toBe(Code.NotFound);
    expect((await rejection(collectWatch("20200101T000000Z-000000"))).code).toBe(Code.NotFound);
  });
});

describe("BenchmarkService behind a control token", () => {
  it("gives the bench the token, so its split reaches the registry", async () => {
    const own = mkdtempSync(join(tmpdir(), "mr-bench-token-"));
    const s = await startTestServer({ benchDir: own, controlToken: "s3cret" });
    const c = createClient(
      BenchmarkService,
      createConnectTransport({
        baseUrl: s.httpUrl,
        httpVersion: "1.1",
        interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer s3cret"), next(req))],
      }),
    );
    try {
      const msgs: BenchmarkProgress[] = [];
      for await (const m of c.runBenchmark({ modes: ["split"], events: [1000n], runs: 1 })) msgs.push(m);
      // The lookup got through (no 401): what fails is that this server runs no stages.
      expect(msgs.at(-1)!.message).toMatch(/split stages missing: ingest, parse, rules, aggregate, sink/);
    } finally {
      await s.close();
      rmSync(own, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("BenchmarkService on shutdown", () => {
  it("cancels the running benchmark when the control server stops", async () => {
    const own = mkdtempSync(join(tmpdir(), "mr-bench-shutdown-"));
    const s = await startTestServer({ benchDir: own });
    const c = createClient(BenchmarkService, createConnectTransport({ baseUrl: s.httpUrl, httpVersion: "1.1" }));
    const req: RunBenchmarkRequest | MessageInitShape<typeof RunBenchmarkRequestSchema> = { modes: ["duckdb"], events: [20_000n], runs: 20 };
    const it = c.runBenchmark(req)[Symbol.asyncIterator]();
    const first = (await it.next()).value as BenchmarkProgress;
    const bench = s.services.benchRunner.current!;
    expect(bench.id).toBe(first.runId);
    await s.close();
    const entry = await bench.done;
    expect(entry.status).toBe("cancelled");
    expect(existsSync(join(own, "history", `${first.runId}.json`))).toBe(true);
    rmSync(own, { recursive: true, force: true });
  }, 60_000);
});
