import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { DEBUG, ERROR, INFO, WARN } from "./log-entry.js";
import { compileFilter } from "./log-filter.js";
import { LogFiles } from "./log-files.js";
import { LogStore, RUNTIME_SERVICE, type LogStoreOptions } from "./log-store.js";

function setup(opts: Partial<LogStoreOptions> = {}) {
  const clock = new FakeClock();
  const scheduler = new FakeScheduler(clock);
  const store = new LogStore({ clock, scheduler, ...opts });
  return { clock, scheduler, store };
}

const all = compileFilter({});

describe("LogStore ring buffer", () => {
  it("keeps the newest entries with strictly increasing sequence numbers", () => {
    const { store } = setup({ capacity: 5, rateLimit: null });
    for (let i = 0; i < 12; i++) store.ingestLine("a", "stdout", `line ${i}`);
    const kept = store.query(all, 100);
    expect(kept.map((e) => e.msg)).toEqual(["line 7", "line 8", "line 9", "line 10", "line 11"]);
    expect(kept.map((e) => e.seq)).toEqual([8, 9, 10, 11, 12]);
    expect(store.lastSequence).toBe(12);
    expect(store.stats()).toEqual([{ service: "a", counters: { accepted: 12, truncated: 0, droppedRateLimit: 0, droppedEvicted: 7 } }]);
  });

  it("query returns the newest N matching entries oldest first; queryAfter only newer ones", () => {
    const { store } = setup({ rateLimit: null });
    for (let i = 0; i < 10; i++) store.ingestLine(i % 2 ? "odd" : "even", "stdout", `n${i}`);
    expect(store.query(compileFilter({ services: ["odd"] }), 2).map((e) => e.msg)).toEqual(["n7", "n9"]);
    expect(store.queryAfter(all, 8, 100).map((e) => e.msg)).toEqual(["n8", "n9"]);
  });
});

describe("LogStore limits", () => {
  it("one service writing 10,000 lines/s for 10 s: exact drop counters, newest kept, drops announced", () => {
    const { store, scheduler } = setup({ capacity: 10_000, rateLimit: { perSecond: 2000, burst: 4000 }, dropReportMs: 1000 });
    // A viewer that only watches markers sees every announcement, also evicted ones.
    const markerWatch = store.subscribe((e) => e.marker === true);
    let sent = 0;
    // 100 lines every 10 ms = 10,000 lines/s, for 10 s.
    for (let step = 0; step < 1000; step++) {
      for (let i = 0; i < 100; i++) store.ingestLine("flood", "stdout", `line ${sent++}`);
      scheduler.advance(10);
    }
    scheduler.advance(1000); // the last drop report
    // The burst (4000) plus 20 tokens per 10 ms step for the 999 steps after the first.
    const accepted = 4000 + 20 * 999;
    const dropped = 100_000 - accepted;
    const flood = store.stats().find((s) => s.service === "flood")!.counters;
    expect(flood).toEqual({ accepted, truncated: 0, droppedRateLimit: dropped, droppedEvicted: store.lastSequence - 10_000 });
    const markers = markerWatch.take(1000);
    expect(store.lastSequence).toBe(accepted + markers.length);
    expect(markers.length).toBe(10);
    expect(markers.every((m) => m.level === WARN && m.service === "flood")).toBe(true);
    // Markers sum up to exactly the drops: nothing is silent.
    const announced = markers.map((m) => Number(/^(\d+) lines dropped by rate limit/.exec(m.msg)![1])).reduce((a, b) => a + b, 0);
    expect(announced).toBe(dropped);
    // The buffer holds the newest 10,000: the last step accepted lines 99,900…99,919.
    expect(store.size).toBe(10_000);
    const kept = store.query(all, 10_000);
    expect(kept[0]!.seq).toBe(store.lastSequence - 9_999);
    expect(kept.filter((e) => !e.marker).at(-1)!.msg).toBe("line 99919");
    expect(kept.every((e, i) => i === 0 || e.seq === kept[i - 1]!.seq + 1)).toBe(true);
  });

  it("announces every dropped line in markers (sum of markers = drop counter)", () => {
    const { store, scheduler } = setup({ rateLimit: { perSecond: 10, burst: 5 }, dropReportMs: 500 });
    for (let i = 0; i < 20; i++) store.ingestLine("svc", "stdout", `x${i}`);
    scheduler.advance(500);
    for (let i = 0; i < 20; i++) store.ingestLine("svc", "stdout", `y${i}`);
    scheduler.advance(500);
    const markers = store.query(all, 1000).filter((e) => e.marker);
    expect(markers.map((m) => m.msg)).toEqual(["15 lines dropped by rate limit (10/s, burst 5)", "15 lines dropped by rate limit (10/s, burst 5)"]);
    expect(store.stats()[0]!.counters).toMatchObject({ accepted: 10, droppedRateLimit: 30 });
  });

  it("rate limits each service on its own", () => {
    const { store } = setup({ rateLimit: { perSecond: 1, burst: 2 } });
    for (let i = 0; i < 5; i++) store.ingestLine("a", "stdout", "a");
    for (let i = 0; i < 5; i++) store.ingestLine("b", "stdout", "b");
    expect(store.stats().map((s) => [s.service, s.counters.accepted, s.counters.droppedRateLimit])).toEqual([
      ["a", 2, 3],
      ["b", 2, 3],
    ]);
  });

  it("cuts long messages, marks and counts them", () => {
    const { store } = setup({ maxMessageChars: 8192 });
    store.ingestLine("big", "stdout", "x".repeat(20_000));
    store.ingestLine("big", "stdout", "short");
    const [long, short] = store.query(all, 10);
    expect(long!.msg.length).toBe(8192);
    expect(long!.truncated).toBe(true);
    expect(short!.truncated).toBeUndefined();
    expect(store.stats()[0]!.counters).toMatchObject({ accepted: 2, truncated: 1 });
  });

  it("markers are stored as such and bypass the rate limit", () => {
    const { store } = setup({ rateLimit: { perSecond: 1, burst: 1 } });
    store.ingestLine("calculator", "stdout", "hello");
    store.marker("calculator", "calculator exited (signal SIGKILL) → restarting in 250 ms", "warn");
    store.marker("calculator", "calculator started (pid 42)", "info");
    const entries = store.query(all, 10);
    expect(entries.map((e) => [e.msg, e.marker === true, e.level])).toEqual([
      ["hello", false, INFO],
      ["calculator exited (signal SIGKILL) → restarting in 250 ms", true, WARN],
      ["calculator started (pid 42)", true, INFO],
    ]);
  });
});

describe("LogStore filters", () => {
  const { store, clock } = setup({ rateLimit: null });
  store.ingestLine("api", "stdout", JSON.stringify({ level: "debug", msg: "cache warm", correlationId: "r1" }));
  clock.advance(1000);
  store.ingestLine("api", "stderr", "Error: connection refused");
  clock.advance(1000);
  store.ingestLine("db", "stdout", JSON.stringify({ level: "warn", msg: "slow query 1200ms", correlation_id: "r1" }));
  clock.advance(1000);
  store.ingestLine("db", "stdout", "ready");
  const t0 = store.query(all, 1)[0]!.ts - 3000;
  const msgs = (f: Parameters<typeof compileFilter>[0]) => store.query(compileFilter(f), 100).map((e) => e.msg);

  it("by service and minimum level", () => {
    expect(msgs({ services: ["db"] })).toEqual(["slow query 1200ms", "ready"]);
    expect(msgs({ minLevel: WARN })).toEqual(["Error: connection refused", "slow query 1200ms"]);
    expect(msgs({ minLevel: ERROR, services: ["api"] })).toEqual(["Error: connection refused"]);
    expect(msgs({ minLevel: DEBUG })).toHaveLength(4);
  });

  it("by text (case-insensitive), regex and correlation id", () => {
    expect(msgs({ text: "REFUSED" })).toEqual(["Error: connection refused"]);
    expect(msgs({ regex: "\\d{4}ms$" })).toEqual(["slow query 1200ms"]);
    expect(msgs({ correlationId: "r1" })).toEqual(["cache warm", "slow query 1200ms"]);
  });

  it("by time range (inclusive)", () => {
    expect(msgs({ sinceMs: t0 + 1000, untilMs: t0 + 2000 })).toEqual(["Error: connection refused", "slow query 1200ms"]);
  });

  it("rejects a bad regex naming it", () => {
    expect(() => compileFilter({ regex: "(unclosed" })).toThrow(/invalid regex "\(unclosed"/);
  });
});

describe("LogStore subscribers", () => {
  it("get matching entries pushed", async () => {
    const { store } = setup({ rateLimit: null });
    const sub = store.subscribe(compileFilter({ minLevel: WARN }));
    const waiting = sub.waitForEntries();
    store.ingestLine("a", "stdout", "info line");
    store.ingestLine("a", "stderr", "warn line");
    await waiting;
    expect(sub.take(10).map((e) => e.msg)).toEqual(["warn line"]);
  });

  it("a slow subscriber gets an 'N entries skipped' marker instead of unbounded memory", () => {
    const { store } = setup({ rateLimit: null, subscriberQueue: 3 });
    const sub = store.subscribe(all);
    for (let i = 0; i < 10; i++) store.ingestLine("a", "stdout", `l${i}`);
    expect(sub.pending).toBe(4);
    const first = sub.take(100);
    expect(first.map((e) => e.msg)).toEqual(["l0", "l1", "l2", "7 entries skipped: this viewer read too slowly"]);
    expect(first[3]).toMatchObject({ marker: true, service: RUNTIME_SERVICE, seq: 10 });
    store.ingestLine("a", "stdout", "l10");
    expect(sub.take(100).map((e) => e.msg)).toEqual(["l10"]);
    store.unsubscribe(sub);
    expect(store.subscriberCount).toBe(0);
  });
});

describe("LogStore persistence", () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const tempDir = () => {
    const d = mkdtempSync(path.join(tmpdir(), "mr-logs-"));
    dirs.push(d);
    return d;
  };

  it("reloads the newest entries after a restart and continues the sequence", () => {
    const dir = tempDir();
    const a = setup({ rateLimit: null, files: new LogFiles({ dir }), capacity: 100 });
    for (let i = 0; i < 150; i++) a.store.ingestLine("svc", "stdout", `before ${i}`);
    a.scheduler.advance(250); // the flush timer
    const lastBefore = a.store.lastSequence;

    const b = setup({ rateLimit: null, files: new LogFiles({ dir }), capacity: 50 });
    const entries = b.store.query(all, 1000);
    // 49 reloaded lines + the restart marker, which continues the sequence.
    expect(entries[0]!.msg).toBe("before 101");
    expect(entries[48]!.msg).toBe("before 149");
    expect(entries[49]).toMatchObject({ marker: true, service: RUNTIME_SERVICE, seq: lastBefore + 1 });
    expect(entries[49]!.msg).toMatch(/50 entries reloaded/);
    b.store.ingestLine("svc", "stdout", "after");
    expect(b.store.lastSequence).toBe(lastBefore + 2);
  });

  it("rotates files by size and keeps at most M files", () => {
    const dir = tempDir();
    const { store } = setup({ rateLimit: null, files: new LogFiles({ dir, maxFileBytes: 2000, maxFiles: 3 }) });
    for (let i = 0; i < 200; i++) {
      store.ingestLine("svc", "stdout", `line ${i} ${"p".repeat(40)}`);
      if (i % 10 === 0) store.flush();
    }
    store.close();
    expect(readdirSync(dir).sort()).toEqual(["logs.1.ndjson", "logs.2.ndjson", "logs.ndjson"]);
    const reloaded = new LogFiles({ dir }).load(10_000);
    expect(reloaded[reloaded.length - 1]!.msg).toMatch(/^line 199 /);
    // Consecutive sequence numbers across the kept files: no gap inside what was kept.
    expect(reloaded.every((e, i) => i === 0 || e.seq === reloaded[i - 1]!.seq + 1)).toBe(true);
    expect(reloaded.length).toBeLessThan(201);
  });
});
