import { create } from "@bufbuild/protobuf";
import { LoadMetricsSchema, LoadSummarySchema, LoadTestInfoSchema, LoadTestState } from "@modular-runtime/proto/runtime/v1/load";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_POINTS, toLoadTestView, useLoadStore } from "../src/loadStore";

const info = (id: string, elapsedMs: number, over: { state?: LoadTestState; rps?: number; saturated?: boolean } = {}) =>
  create(LoadTestInfoSchema, {
    testId: id,
    targetService: "calculator-server",
    method: "calculator.v1.CalculatorService/Calculate",
    requestsPerSecond: 1000,
    durationSeconds: 30,
    concurrentClients: 1000,
    label: "1000/s",
    latest: create(LoadMetricsSchema, {
      testId: id,
      elapsedMs: BigInt(elapsedMs),
      state: over.state ?? LoadTestState.RUNNING,
      currentRps: over.rps ?? 1000,
      requestsSent: 1000n,
      requestsFailed: 3n,
      lateSends: 7n,
      latencyP99Ms: 12.5,
      uncorrectedP99Ms: 2.5,
      errorsByCode: { unavailable: 3n },
      saturated: over.saturated ?? false,
      saturationReason: over.saturated ? "in-flight limit of 1000 reached" : "",
    }),
    summary: create(LoadSummarySchema, { latencyP99Ms: 40, uncorrectedP99Ms: 3, saturated: true }),
  });

beforeEach(() => useLoadStore.setState({ tests: [], series: {}, selectedId: null, pinned: false }));

describe("load adapters", () => {
  it("turn a LoadTestInfo into a small view", () => {
    const v = toLoadTestView(info("a", 5000, { saturated: true }));
    expect(v).toMatchObject({
      id: "a",
      target: "calculator-server",
      state: "RUNNING",
      active: true,
      elapsedSeconds: 5,
      sent: 1000,
      failed: 3,
      late: 7,
      saturated: true,
      saturationReason: "in-flight limit of 1000 reached",
      everSaturated: true,
      p99: 40,
      uncorrectedP99: 3,
      errors: { unavailable: 3 },
    });
    expect(toLoadTestView(info("b", 1000, { state: LoadTestState.COMPLETED })).active).toBe(false);
  });
});

describe("load store", () => {
  it("adds one chart point per interval and follows the newest running test", () => {
    const { applyWatch } = useLoadStore.getState();
    applyWatch([info("a", 0)]);
    expect(useLoadStore.getState().series.a).toEqual([]);
    applyWatch([info("a", 1000)]);
    applyWatch([info("a", 1000)]); // the same second again (watch sends once a second too)
    applyWatch([info("a", 2000, { rps: 990 }), info("b", 1000)]);
    const s = useLoadStore.getState();
    expect(s.series.a.map((p) => [p.t, p.rps, p.p99, p.u99])).toEqual([
      [1, 1000, 12.5, 2.5],
      [2, 990, 12.5, 2.5],
    ]);
    expect(s.series.b).toHaveLength(1);
    expect(s.selectedId).toBe("b");
    // A test the user picked stays selected; a test gone from the list drops its series.
    s.select("a");
    useLoadStore.getState().applyWatch([info("a", 3000)]);
    expect(useLoadStore.getState().selectedId).toBe("a");
    expect(useLoadStore.getState().series.b).toBeUndefined();
  });

  it("keeps at most MAX_POINTS per test", () => {
    for (let i = 1; i <= MAX_POINTS + 5; i++) useLoadStore.getState().applyWatch([info("a", i * 1000)]);
    const pts = useLoadStore.getState().series.a;
    expect(pts).toHaveLength(MAX_POINTS);
    expect(pts[0].t).toBe(6);
  });
});
