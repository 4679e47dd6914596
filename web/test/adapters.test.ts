import { create } from "@bufbuild/protobuf";
import {
  ConnectionState,
  HealthState,
  ServiceEdgeSchema,
  ServiceLanguage,
  ServiceNodeSchema,
  ServiceType,
} from "@modular-runtime/proto/runtime/v1/topology";
import { describe, expect, it } from "vitest";
import { edgeWidth, formatAge, formatBytes, formatRate, toEdgeView, toNodeView, type NodeView } from "../src/adapters";
import { nodesByName, trafficOf, visibleEdges } from "../src/graphModel";
import { retryDelay } from "../src/streamController";
import { selectionFromUrl, selectionToSearch } from "../src/useUrlSelection";

describe("adapters", () => {
  it("turns a wire node into plain view props", () => {
    const v = toNodeView(
      create(ServiceNodeSchema, {
        instanceId: "i1",
        name: "parse",
        type: ServiceType.HYBRID,
        language: ServiceLanguage.RUST,
        state: ConnectionState.STALE,
        health: { state: HealthState.DEGRADED, message: "slow" },
        metrics: { cpuPercent: 12.5, rssBytes: 1048576n },
        lastHeartbeatAtMs: 1234n,
        restartCount: 2,
      }),
    );
    expect(v).toMatchObject({
      id: "i1",
      name: "parse",
      type: "HYBRID",
      language: "RUST",
      state: "STALE",
      health: "DEGRADED",
      healthMessage: "slow",
      cpuPercent: 12.5,
      rssBytes: 1048576,
      lastHeartbeatAtMs: 1234,
      restartCount: 2,
    });
  });

  it("turns a wire edge into plain view props", () => {
    const v = toEdgeView(create(ServiceEdgeSchema, { id: "a->b", source: "a", target: "b", state: ConnectionState.ACTIVE, requestsPerSecond: 20, totalRequests: 99n }));
    expect(v).toMatchObject({ id: "a->b", state: "ACTIVE", requestsPerSecond: 20, totalRequests: 99 });
  });

  it("formats rates, sizes and ages for a screen", () => {
    expect(formatRate(0.44)).toBe("0.4 req/s");
    expect(formatRate(20)).toBe("20 req/s");
    expect(formatRate(1234, "ev/s")).toBe("1.2k ev/s");
    expect(formatRate(2_500_000, "ev/s")).toBe("2500k ev/s");
    expect(formatBytes(undefined)).toBe("–");
    expect(formatBytes(3 * 1024 * 1024)).toBe("3 MiB");
    expect(formatAge(250)).toBe("250 ms");
    expect(formatAge(4200)).toBe("4.2 s");
    expect(formatAge(-5)).toBe("0 ms");
  });

  it("edge width grows with the rate and is capped", () => {
    expect(edgeWidth(0)).toBe(1.5);
    expect(edgeWidth(10)).toBeLessThan(edgeWidth(1000));
    expect(edgeWidth(1e9)).toBe(9);
  });
});

const node = (over: Partial<NodeView>): NodeView =>
  ({ id: "x", name: "svc", state: "IDLE", registeredAtMs: 0, ...over }) as NodeView;

describe("graph model", () => {
  it("shows the newest live instance of a name over a lingering dead one", () => {
    const byName = nodesByName({
      old: node({ id: "old", state: "DEAD", registeredAtMs: 1 }),
      new: node({ id: "new", state: "REGISTERED", registeredAtMs: 2 }),
      older: node({ id: "older", state: "ACTIVE", registeredAtMs: 0 }),
    });
    expect(byName.get("svc")!.id).toBe("new");
    expect(nodesByName({ d: node({ id: "d", state: "DEAD" }) }).get("svc")!.id).toBe("d");
  });

  it("draws only edges between present names and sums traffic per name", () => {
    const edges = {
      "a->b": toEdgeView(create(ServiceEdgeSchema, { id: "a->b", source: "a", target: "b", requestsPerSecond: 5 })),
      "a->gone": toEdgeView(create(ServiceEdgeSchema, { id: "a->gone", source: "a", target: "gone", requestsPerSecond: 7 })),
    };
    const shown = visibleEdges(edges, new Set(["a", "b"]));
    expect(shown.map((e) => e.id)).toEqual(["a->b"]);
    expect(trafficOf("a", shown)).toEqual({ inRps: 0, outRps: 5 });
    expect(trafficOf("b", shown)).toEqual({ inRps: 5, outRps: 0 });
  });
});

describe("stream controller backoff", () => {
  it("starts at 250 ms, doubles and is capped at 5 s", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 20].map(retryDelay)).toEqual([250, 500, 1000, 2000, 4000, 5000, 5000, 5000]);
  });
});

describe("selection in the URL", () => {
  it("round-trips node and edge selections and keeps other parameters", () => {
    expect(selectionFromUrl("?node=calc")).toEqual({ kind: "node", name: "calc" });
    expect(selectionFromUrl("?edge=a-%3Eb")).toEqual({ kind: "edge", id: "a->b" });
    expect(selectionFromUrl("")).toBeNull();
    expect(selectionToSearch("?token=t", { kind: "node", name: "calc" })).toBe("?token=t&node=calc");
    expect(selectionToSearch("?node=calc&token=t", null)).toBe("?token=t");
  });
});
