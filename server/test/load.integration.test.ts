// LoadGeneratorService on a real control server against a real CalculatorService (h2c), with
// real clients over gRPC and Connect. Asserts behaviour, never machine-dependent timings.

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CalculatorService } from "@modular-runtime/proto/calculator/v1/calculator";
import { LoadGeneratorService, LoadTestState, type LoadMetrics } from "@modular-runtime/proto/runtime/v1/load";
import { RegisterServiceRequestSchema, ServiceType } from "@modular-runtime/proto/runtime/v1/topology";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createCalculatorService } from "../../services/calculator/src/calculator-service.js";
import { startTestServer, type TestServer } from "./harness.js";

let server: TestServer;
let calculator: http2.Http2Server;

beforeAll(async () => {
  server = await startTestServer();
  calculator = http2.createServer(connectNodeAdapter({ routes: (r) => r.service(CalculatorService, createCalculatorService()) }));
  calculator.listen(0, "127.0.0.1");
  await once(calculator, "listening");
  const { port } = calculator.address() as AddressInfo;
  server.services.registry.register(
    create(RegisterServiceRequestSchema, {
      name: "calculator-server",
      type: ServiceType.SERVER,
      address: `127.0.0.1:${port}`,
      metadata: { demo: "calculator" },
    }),
  );
});

afterAll(async () => {
  await server.close();
  calculator.close();
});

describe("LoadGeneratorService against a real calculator", () => {
  it("streams metrics once a second over gRPC and completes with every request answered", async () => {
    const client = createClient(LoadGeneratorService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    const messages: LoadMetrics[] = [];
    for await (const m of client.startLoad({ targetService: "calculator-server", requestsPerSecond: 100, durationSeconds: 2, concurrentClients: 50 })) {
      messages.push(m);
    }
    const first = messages[0];
    const last = messages.at(-1)!;
    expect(first.testId).toMatch(/^[0-9a-f-]{36}$/);
    expect(first.state).toBe(LoadTestState.RUNNING);
    expect(messages.every((m) => m.testId === first.testId)).toBe(true);
    expect(last.state).toBe(LoadTestState.COMPLETED);
    // Everything planned was sent, or counted as unsent if this shared machine fell behind.
    expect(Number(last.requestsSent) + Number(last.requestsUnsent)).toBe(200);
    expect(last.requestsSucceeded).toBe(last.requestsSent);
    expect(last.requestsFailed).toBe(0n);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    // The traffic is on the topology as an edge from the generator.
    const edge = server.services.registry.getEdge("load-generator->calculator-server");
    expect(Number(edge?.totalRequests)).toBe(Number(last.requestsSent));
    expect(edge?.methods).toContain("calculator.v1.CalculatorService/Calculate");
  });

  it("counts failures by code when the payload makes the target fail", async () => {
    const client = createClient(LoadGeneratorService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    let last: LoadMetrics | undefined;
    const payload = new TextEncoder().encode('{"operation":"OPERATION_DIVIDE","a":1,"b":0}');
    for await (const m of client.startLoad({ targetService: "calculator-server", requestsPerSecond: 20, durationSeconds: 1, payload })) last = m;
    expect(last?.requestsFailed).toBe(last?.requestsSent);
    expect(last?.errorsByCode).toEqual({ invalid_argument: last?.requestsSent });
  });

  it("rejects bad arguments over Connect with a code and a message naming the value", async () => {
    const client = createClient(LoadGeneratorService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const first = async (req: Parameters<typeof client.startLoad>[0]) => {
      for await (const _ of client.startLoad(req)) return;
    };
    await expect(first({ targetService: "calculator-server", requestsPerSecond: 0, durationSeconds: 1 })).rejects.toMatchObject({
      code: Code.InvalidArgument,
      rawMessage: "requests_per_second must be 1–50000, got 0",
    });
    await expect(first({ targetService: "ghost", requestsPerSecond: 1, durationSeconds: 1 })).rejects.toMatchObject({ code: Code.NotFound });
    await expect(client.stopLoad({ testId: "nope" })).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("a detached test survives its stream, is listed, watched and stopped by id", async () => {
    const client = createClient(LoadGeneratorService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const abort = new AbortController();
    let id = "";
    try {
      for await (const m of client.startLoad(
        { targetService: "calculator-server", requestsPerSecond: 50, durationSeconds: 60, detach: true, label: "detached" },
        { signal: abort.signal },
      )) {
        id = m.testId;
        abort.abort();
      }
    } catch (err) {
      expect(ConnectError.from(err).code).toBe(Code.Canceled);
    }
    await new Promise((r) => setTimeout(r, 300));
    const active = await client.getActiveTests({});
    expect(active.tests.map((t) => [t.testId, t.label, t.targetService])).toEqual([[id, "detached", "calculator-server"]]);

    const watchAbort = new AbortController();
    for await (const w of client.watchLoadTests({}, { signal: watchAbort.signal })) {
      expect(w.tests.find((t) => t.testId === id)?.latest?.state).toBe(LoadTestState.RUNNING);
      break;
    }
    watchAbort.abort();

    const summary = await client.stopLoad({ testId: id });
    expect(summary.state).toBe(LoadTestState.STOPPED);
    expect(summary.testId).toBe(id);
    expect((await client.getActiveTests({})).tests).toHaveLength(0);
  });

  it("cancelling the stream of an attached test stops it", async () => {
    const client = createClient(LoadGeneratorService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    const abort = new AbortController();
    let id = "";
    try {
      for await (const m of client.startLoad({ targetService: "calculator-server", requestsPerSecond: 50, durationSeconds: 60 }, { signal: abort.signal })) {
        id = m.testId;
        abort.abort();
      }
    } catch {
      // Canceled, as asked.
    }
    await expect.poll(async () => (await client.getActiveTests({})).tests.length, { timeout: 5000 }).toBe(0);
    expect((await client.stopLoad({ testId: id })).state).toBe(LoadTestState.STOPPED);
  });
});
