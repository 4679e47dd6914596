// LoggerService on real ports with real clients: StreamLogs over gRPC h2c (as services ship
// logs), QueryLogs over Connect JSON (as curl reads them), SubscribeLogs as a Connect stream over
// HTTP/1.1 (as the dashboard tails them).

import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { LogEntrySchema, LoggerService, LogLevel, StreamLogsRequestSchema, type SubscribeLogsResponse } from "@modular-runtime/proto/runtime/v1/logger";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let server: TestServer;

beforeEach(async () => {
  server = await startTestServer();
});
afterEach(async () => {
  await server.close();
});

describe("LoggerService on real ports", () => {
  it("StreamLogs over gRPC h2c, then QueryLogs over Connect JSON", async () => {
    const grpc = createClient(LoggerService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    async function* requests() {
      for (let b = 0; b < 3; b++) {
        yield create(StreamLogsRequestSchema, {
          entries: Array.from({ length: 10 }, (_, i) =>
            create(LogEntrySchema, { serviceName: "ingest", message: `batch ${b} line ${i}`, level: i === 9 ? LogLevel.ERROR : LogLevel.INFO, correlationId: `req-${b}` }),
          ),
        });
      }
    }
    const ack = await grpc.streamLogs(requests());
    expect(ack).toMatchObject({ accepted: 30n, dropped: 0n, truncated: 0n });

    const res = await fetch(`${server.httpUrl}/runtime.v1.LoggerService/QueryLogs`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ filter: { serviceNames: ["ingest"], minLevel: "LOG_LEVEL_ERROR" }, limit: 2 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { entries: { message: string; level: string; correlationId: string; stream: string; sequence: string }[] };
    expect(body.entries.map((e) => [e.message, e.level, e.correlationId, e.stream])).toEqual([
      ["batch 1 line 9", "LOG_LEVEL_ERROR", "req-1", "LOG_STREAM_RPC"],
      ["batch 2 line 9", "LOG_LEVEL_ERROR", "req-2", "LOG_STREAM_RPC"],
    ]);

    // A read-only call also works over GET; a bad regex names itself.
    const msg = encodeURIComponent(JSON.stringify({ filter: { regex: "(" } }));
    const bad = await fetch(`${server.httpUrl}/runtime.v1.LoggerService/QueryLogs?connect=v1&encoding=json&message=${msg}`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { code: string; message: string })).toMatchObject({ code: "invalid_argument", message: expect.stringContaining('invalid regex "("') });
  });

  it("SubscribeLogs over Connect (HTTP/1.1) gets the backlog, then live supervisor lines and markers", async () => {
    const store = server.services.logStore;
    store.ingestLine("calculator-server", "stdout", JSON.stringify({ level: "info", msg: "listening", correlationId: "boot" }));
    const client = createClient(LoggerService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const abort = new AbortController();
    const it = client.subscribeLogs({ filter: { serviceNames: ["calculator-server"] } }, { signal: abort.signal })[Symbol.asyncIterator]();
    const backlog = (await it.next()).value as SubscribeLogsResponse;
    expect(backlog.entries.map((e) => e.message)).toEqual(["listening"]);

    const received: string[] = [];
    const reading = (async () => {
      while (received.length < 3) {
        const r = await it.next();
        if (r.done) break;
        for (const e of r.value.entries) received.push(`${LogLevel[e.level]} ${e.message}`);
      }
    })();
    store.ingestLine("calculator-client", "stdout", "not subscribed");
    store.ingestLine("calculator-server", "stderr", "Error: boom");
    store.marker("calculator-server", "calculator-server exited (signal SIGKILL) → restarting in 250 ms", "warn");
    store.ingestLine("calculator-server", "stdout", "listening again");
    await reading;
    expect(received).toEqual(["ERROR Error: boom", "WARN calculator-server exited (signal SIGKILL) → restarting in 250 ms", "INFO listening again"]);
    abort.abort();

    const stats = await client.getLogStats({});
    expect(stats.services.map((s) => [s.serviceName, s.accepted])).toEqual([
      ["calculator-client", 1n],
      ["calculator-server", 3n],
    ]);
  });
});
