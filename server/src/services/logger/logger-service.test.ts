import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import {
  LogEntryKind,
  LogEntrySchema,
  LoggerService,
  LogLevel,
  LogStream,
  StreamLogsRequestSchema,
  type SubscribeLogsResponse,
} from "@modular-runtime/proto/runtime/v1/logger";
import { describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { LogStore } from "./log-store.js";
import { createLoggerService } from "./logger-service.js";

function setup() {
  const clock = new FakeClock();
  const scheduler = new FakeScheduler(clock);
  const store = new LogStore({ clock, scheduler, rateLimit: { perSecond: 100, burst: 3 } });
  const shutdown = new AbortController();
  const transport = createRouterTransport((router) => {
    router.service(LoggerService, createLoggerService({ store, clock, shutdown: shutdown.signal }));
  });
  return { clock, store, shutdown, client: createClient(LoggerService, transport) };
}

async function* batches(...entries: MessageInitShape<typeof LogEntrySchema>[][]) {
  for (const b of entries) yield create(StreamLogsRequestSchema, { entries: b.map((e) => create(LogEntrySchema, e)) });
}

describe("LoggerService", () => {
  it("StreamLogs stores shipped entries and reports accepted / dropped / truncated", async () => {
    const { client, store, clock } = setup();
    const res = await client.streamLogs(
      batches(
        [
          { serviceName: "ingest", message: "a", level: LogLevel.ERROR, correlationId: "c1", fields: { k: "v" } },
          { serviceName: "ingest", message: "x".repeat(9000) },
        ],
        [{ serviceName: "ingest", message: "c", kind: LogEntryKind.MARKER }, { serviceName: "ingest", message: "d" }],
      ),
    );
    expect(res).toMatchObject({ accepted: 3n, dropped: 1n, truncated: 1n });
    const q = await client.queryLogs({});
    expect(q.entries.map((e) => [e.message.length, e.level, e.stream, e.kind, e.truncated])).toEqual([
      [1, LogLevel.ERROR, LogStream.RPC, LogEntryKind.ENTRY, false],
      [8192, LogLevel.INFO, LogStream.RPC, LogEntryKind.ENTRY, true],
      [1, LogLevel.INFO, LogStream.RPC, LogEntryKind.ENTRY, false],
    ]);
    expect(q.entries[0]).toMatchObject({ correlationId: "c1", fields: { k: "v" }, timestampMs: BigInt(clock.wallNow()) });
    expect(q.lastSequence).toBe(BigInt(store.lastSequence));
  });

  it("StreamLogs refuses an entry without a service name", async () => {
    const { client } = setup();
    const err = await client.streamLogs(batches([{ message: "orphan" }])).catch((e) => ConnectError.from(e));
    expect(err).toMatchObject({ code: Code.InvalidArgument, rawMessage: "log entry without service_name" });
  });

  it("QueryLogs returns the newest N matching, oldest first; a bad regex is INVALID_ARGUMENT naming it", async () => {
    const { client, store } = setup();
    for (let i = 0; i < 3; i++) store.ingestLine("a", "stdout", `a${i}`);
    for (let i = 0; i < 3; i++) store.ingestLine("b", "stderr", `Error: b${i}`);
    const q = await client.queryLogs({ filter: { minLevel: LogLevel.ERROR }, limit: 2 });
    expect(q.entries.map((e) => e.message)).toEqual(["Error: b1", "Error: b2"]);
    const err = await client.queryLogs({ filter: { regex: "a[" } }).then(
      () => undefined,
      (e) => ConnectError.from(e),
    );
    expect(err?.code).toBe(Code.InvalidArgument);
    expect(err?.rawMessage).toMatch(/^invalid regex "a\["/);
  });

  it("SubscribeLogs sends the backlog, then live entries; a resumed one skips what it had", async () => {
    const { client, store, shutdown } = setup();
    store.marker("calc", "calc started (pid 1)", "info");
    store.ingestLine("calc", "stdout", "old");
    const abort = new AbortController();
    const stream = client.subscribeLogs({ filter: { serviceNames: ["calc"] }, backlog: 1 }, { signal: abort.signal });
    const it = stream[Symbol.asyncIterator]();
    const first = (await it.next()).value as SubscribeLogsResponse;
    expect(first.entries.map((e) => e.message)).toEqual(["old"]);
    store.ingestLine("other", "stdout", "not for me");
    store.marker("calc", "calc exited (signal SIGKILL) → restarting in 250 ms", "warn");
    const live = (await it.next()).value as SubscribeLogsResponse;
    expect(live.entries.map((e) => [e.message, e.kind])).toEqual([["calc exited (signal SIGKILL) → restarting in 250 ms", LogEntryKind.MARKER]]);
    abort.abort();
    await expect(it.next()).rejects.toThrow();

    const resumed = client.subscribeLogs({ afterSequence: first.entries[0]!.sequence }, { signal: shutdown.signal });
    const r = (await resumed[Symbol.asyncIterator]().next()).value as SubscribeLogsResponse;
    expect(r.entries.map((e) => e.message)).toEqual(["not for me", "calc exited (signal SIGKILL) → restarting in 250 ms"]);
    // A resume point from before a restart without log files: the normal backlog.
    const fresh = client.subscribeLogs({ afterSequence: 1000n, backlog: 1 }, { signal: shutdown.signal });
    const f = (await fresh[Symbol.asyncIterator]().next()).value as SubscribeLogsResponse;
    expect(f.entries.map((e) => e.message)).toEqual(["calc exited (signal SIGKILL) → restarting in 250 ms"]);
    shutdown.abort();
    expect(store.subscriberCount).toBe(0);
  });

  it("GetLogStats reports per-service counters", async () => {
    const { client, store } = setup();
    for (let i = 0; i < 5; i++) store.ingestLine("noisy", "stdout", "x");
    store.ingestLine("quiet", "stdout", "y".repeat(10_000));
    const s = await client.getLogStats({});
    expect(s.services.map((r) => [r.serviceName, r.accepted, r.truncated, r.droppedRateLimit, r.droppedEvicted])).toEqual([
      ["noisy", 3n, 0n, 2n, 0n],
      ["quiet", 1n, 1n, 0n, 0n],
    ]);
    expect(s).toMatchObject({ buffered: 4n, capacity: 10_000n, lastSequence: 4n });
  });
});
