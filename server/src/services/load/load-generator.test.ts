import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LoadTestState, StartLoadRequestSchema } from "@modular-runtime/proto/runtime/v1/load";
import { ConnectionState, RegisterServiceRequestSchema, ServiceType } from "@modular-runtime/proto/runtime/v1/topology";
import { describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { TopologyRegistry } from "../topology/registry.js";
import { LoadGenerator } from "./load-generator.js";
import { LINGER_MS, LOAD_SOURCE_NAME } from "./load-reporter.js";
import { calculatorAdapter, type TargetAdapter } from "./targets.js";

const flush = () => new Promise<void>((r) => setImmediate(r));

function setup() {
  const clock = new FakeClock();
  const scheduler = new FakeScheduler(clock);
  const registry = new TopologyRegistry(clock, { heartbeatIntervalMs: 1000 });
  registry.register(
    create(RegisterServiceRequestSchema, { name: "calculator-server", type: ServiceType.SERVER, address: "127.0.0.1:1", metadata: { demo: "calculator" } }),
  );
  registry.register(create(RegisterServiceRequestSchema, { name: "plain-server", type: ServiceType.SERVER, address: "127.0.0.1:2" }));
  // The real calculator adapter for argument checks, with calls answered by fake time.
  const real = calculatorAdapter();
  const adapter: TargetAdapter = {
    methods: real.methods,
    isDefaultFor: real.isDefaultFor,
    prepare(node, method, payload) {
      real.prepare(node, method, payload); // validates the payload
      return { method, call: () => new Promise((r) => scheduler.setTimeout(r, 2)), close() {} };
    },
  };
  const gen = new LoadGenerator({ registry, clock, scheduler, adapters: [adapter] });
  const run = async (ms: number) => {
    for (let i = 0; i < ms; i++) {
      scheduler.advance(1);
      await flush();
    }
  };
  return { clock, scheduler, registry, gen, run };
}

const req = (over: Record<string, unknown> = {}) =>
  create(StartLoadRequestSchema, { targetService: "calculator-server", requestsPerSecond: 100, durationSeconds: 2, ...over });

describe("LoadGenerator arguments", () => {
  it.each([
    [{ requestsPerSecond: 0 }, Code.InvalidArgument, "requests_per_second must be 1–50000, got 0"],
    [{ requestsPerSecond: 50_001 }, Code.InvalidArgument, "requests_per_second must be 1–50000, got 50001"],
    [{ durationSeconds: 0 }, Code.InvalidArgument, "duration_seconds must be 1–3600, got 0"],
    [{ durationSeconds: 3601 }, Code.InvalidArgument, "duration_seconds must be 1–3600, got 3601"],
    [{ concurrentClients: -1 }, Code.InvalidArgument, "concurrent_clients must be 1–10000, got -1"],
    [{ concurrentClients: 10_001 }, Code.InvalidArgument, "concurrent_clients must be 1–10000, got 10001"],
    [{ requestTimeoutMs: 60_001 }, Code.InvalidArgument, "request_timeout_ms must be 1–60000, got 60001"],
    [{ targetService: "" }, Code.InvalidArgument, "target_service is required"],
    [{ targetService: "nope" }, Code.NotFound, 'no live instance of service "nope"'],
    [{ method: "x.v1.X/Y" }, Code.InvalidArgument, 'unsupported method "x.v1.X/Y"; supported: calculator.v1.CalculatorService/Calculate'],
    [{ targetService: "plain-server" }, Code.InvalidArgument, 'method is required for service "plain-server"'],
    [{ payload: new TextEncoder().encode("{nope") }, Code.InvalidArgument, 'invalid payload for calculator.v1.CalculatorService/Calculate: "{nope"'],
    [{ payload: new Uint8Array(64 * 1024 + 1) }, Code.InvalidArgument, "payload must be at most 65536 bytes, got 65537"],
    [{ label: "x".repeat(101) }, Code.InvalidArgument, "label must be at most 100 characters, got 101"],
  ])("%o → %s", (over, code, message) => {
    const { gen } = setup();
    let err: ConnectError | undefined;
    try {
      gen.start(req(over));
    } catch (e) {
      err = e as ConnectError;
    }
    expect(err?.code).toBe(code);
    expect(err?.rawMessage).toContain(message);
    expect(gen.active()).toHaveLength(0);
  });

  it("limits the number of tests and their combined rate", () => {
    const { gen } = setup();
    for (let i = 0; i < 8; i++) gen.start(req({ requestsPerSecond: 10, durationSeconds: 60 }));
    expect(() => gen.start(req())).toThrow(/too many load tests running \(8\)/);
    gen.stopAll();
    gen.start(req({ requestsPerSecond: 50_000, durationSeconds: 60 }));
    gen.start(req({ requestsPerSecond: 50_000, durationSeconds: 60 }));
    expect(() => gen.start(req({ requestsPerSecond: 1 }))).toThrow(/combined rate of running tests would be 100001 req\/s/);
    gen.stopAll();
  });

  it("StopLoad of an unknown id is NOT_FOUND", () => {
    const { gen } = setup();
    expect(() => gen.stop("no-such-test")).toThrow(expect.objectContaining({ code: Code.NotFound }));
    expect(() => gen.stop("")).toThrow(expect.objectContaining({ code: Code.InvalidArgument }));
  });
});

describe("LoadGenerator tests and the topology", () => {
  it("runs several tests at once, each stoppable by id; the load is an edge from load-generator", async () => {
    const { gen, run, registry } = setup();
    const a = gen.start(req({ requestsPerSecond: 100, durationSeconds: 10, label: "a" }));
    const b = gen.start(req({ requestsPerSecond: 50, durationSeconds: 3, label: "b" }));
    expect(a.testId).not.toBe(b.testId);
    expect(gen.active().map((t) => t.label)).toEqual(["a", "b"]);
    await run(2000);

    const source = registry.lookup(LOAD_SOURCE_NAME);
    expect(source).toHaveLength(1);
    expect(source[0].state).toBe(ConnectionState.ACTIVE);
    const edge = registry.getEdge(`${LOAD_SOURCE_NAME}->calculator-server`);
    expect(edge?.state).toBe(ConnectionState.ACTIVE);
    expect(edge?.methods).toEqual(["calculator.v1.CalculatorService/Calculate"]);
    expect(Number(edge?.totalRequests)).toBeGreaterThan(250);
    expect(edge?.requestsPerSecond).toBeGreaterThan(100);

    const summary = gen.stop(a.testId);
    expect(summary.state).toBe(LoadTestState.STOPPED);
    expect(summary.totalRequests).toBe(201n);
    expect(gen.active().map((t) => t.label)).toEqual(["b"]);
    await run(1500);
    expect(gen.active()).toHaveLength(0);
    expect(gen.all().map((t) => t.summary?.state)).toEqual([LoadTestState.STOPPED, LoadTestState.COMPLETED]);
    expect(gen.all()[1].summary?.totalRequests).toBe(150n);
    // The last test out takes the source off the graph, after a moment.
    expect(registry.lookup(LOAD_SOURCE_NAME)).toHaveLength(1);
    await run(LINGER_MS);
    expect(registry.lookup(LOAD_SOURCE_NAME)).toHaveLength(0);
    expect(Number(registry.getEdge(`${LOAD_SOURCE_NAME}->calculator-server`)?.totalRequests ?? 0)).toBe(0);
  });

  it("keeps the source alive with heartbeats during a long test", async () => {
    const { gen, run, registry } = setup();
    gen.start(req({ requestsPerSecond: 10, durationSeconds: 10 }));
    for (let i = 0; i < 8; i++) {
      await run(1000);
      registry.tick();
    }
    expect(registry.lookup(LOAD_SOURCE_NAME)[0]?.state).toBe(ConnectionState.ACTIVE);
    gen.stopAll();
  });
});
