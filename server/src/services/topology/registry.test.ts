import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ActivityEventSchema,
  ActivityType,
  ConnectionState,
  RegisterServiceRequestSchema,
  ServiceLanguage,
  ServiceType,
} from "@modular-runtime/proto/runtime/v1/topology";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock } from "../../clock.js";
import { TopologyRegistry, type RegistryChange } from "./registry.js";

const INTERVAL = 1000;

function req(name: string, extra: MessageInitShape<typeof RegisterServiceRequestSchema> = {}) {
  return create(RegisterServiceRequestSchema, {
    name,
    type: ServiceType.SERVER,
    language: ServiceLanguage.TYPESCRIPT,
    ...extra,
  });
}

function activity(target: string, count = 10, errors = 0) {
  return create(ActivityEventSchema, {
    targetService: target,
    method: "m",
    type: ActivityType.REQUEST,
    count,
    errorCount: errors,
    latencySumUs: BigInt(count * 2000),
    latencyMaxUs: 5000n,
  });
}

function expectCode(fn: () => unknown, code: Code, message?: RegExp) {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConnectError);
    expect((err as ConnectError).code).toBe(code);
    if (message) expect((err as ConnectError).message).toMatch(message);
    return;
  }
  throw new Error("expected an error");
}

describe("TopologyRegistry liveness", () => {
  let clock: FakeClock;
  let reg: TopologyRegistry;
  const state = (id: string) => reg.getNode(id)?.state;

  beforeEach(() => {
    clock = new FakeClock();
    reg = new TopologyRegistry(clock, { heartbeatIntervalMs: INTERVAL, staleMultiplier: 2, deadMultiplier: 3, deadLingerMs: 500 });
  });

  /** Moves time in small steps, ticking like the production loop does. */
  function run(ms: number, step = 50) {
    for (let t = 0; t < ms; t += step) {
      clock.advance(step);
      reg.tick();
    }
  }

  it("hands out the configured liveness contract with a fresh instance id", () => {
    const a = reg.register(req("svc"));
    const b = reg.register(req("svc"));
    expect(a.instanceId).not.toBe(b.instanceId);
    expect(a.heartbeatIntervalMs).toBe(INTERVAL);
    expect(a.timeoutMultiplier).toBe(3);
    expect(a.staleMultiplier).toBe(2);
  });

  it("REGISTERED until the first beat, then IDLE", () => {
    const h = reg.register(req("svc"));
    expect(state(h.instanceId)).toBe(ConnectionState.REGISTERED);
    reg.heartbeat(h.instanceId, 1n);
    expect(state(h.instanceId)).toBe(ConnectionState.IDLE);
  });

  it("IDLE -> STALE after 2 missed intervals -> DEAD after 3 -> removed after the linger", () => {
    const h = reg.register(req("svc"));
    reg.heartbeat(h.instanceId, 1n);
    run(2000);
    expect(state(h.instanceId)).toBe(ConnectionState.IDLE);
    run(100);
    expect(state(h.instanceId)).toBe(ConnectionState.STALE);
    run(900);
    expect(state(h.instanceId)).toBe(ConnectionState.STALE);
    run(100);
    expect(state(h.instanceId)).toBe(ConnectionState.DEAD);
    expect(reg.getNode(h.instanceId)?.deadReason).toMatch(/heartbeat timeout/);
    run(500);
    expect(reg.getNode(h.instanceId)).toBeUndefined();
    expect(reg.nodes()).toHaveLength(0);
  });

  it("a STALE instance that beats again is IDLE again", () => {
    const h = reg.register(req("svc"));
    reg.heartbeat(h.instanceId, 1n);
    run(2500);
    expect(state(h.instanceId)).toBe(ConnectionState.STALE);
    reg.heartbeat(h.instanceId, 2n);
    expect(state(h.instanceId)).toBe(ConnectionState.IDLE);
  });

  it("heartbeat jitter within the interval never makes a false STALE", () => {
    const h = reg.register(req("svc"));
    reg.heartbeat(h.instanceId, 1n);
    let seq = 1n;
    // Beats arrive anywhere between 0 and 2 intervals apart (late by up to one interval).
    const gaps = [1000, 1990, 10, 1999, 1500, 1000, 1950, 20, 1999, 1999];
    for (const gap of gaps) {
      run(gap, 1);
      expect(state(h.instanceId)).not.toBe(ConnectionState.STALE);
      reg.heartbeat(h.instanceId, ++seq);
    }
  });

  it("refuses beats from a dead instance and never resurrects it", () => {
    const h = reg.register(req("svc"));
    reg.heartbeat(h.instanceId, 1n);
    run(3100);
    expect(state(h.instanceId)).toBe(ConnectionState.DEAD);
    expectCode(() => reg.heartbeat(h.instanceId, 2n), Code.NotFound, /is dead; register again/);
    expect(state(h.instanceId)).toBe(ConnectionState.DEAD);
    run(600);
    expectCode(() => reg.heartbeat(h.instanceId, 3n), Code.NotFound, /is dead/);
    expect(reg.getNode(h.instanceId)).toBeUndefined();
  });

  it("refuses beats from an unknown instance", () => {
    expectCode(() => reg.heartbeat("nope", 1n), Code.NotFound, /"nope" is unknown/);
  });

  it("a process exit marks its instances DEAD at once and counts a restart for the name", () => {
    const h = reg.register(req("svc", { processName: "svc-proc" }));
    reg.heartbeat(h.instanceId, 1n);
    expect(reg.markProcessExited("svc-proc", "signal SIGKILL")).toBe(1);
    expect(state(h.instanceId)).toBe(ConnectionState.DEAD);
    expect(reg.getNode(h.instanceId)?.deadReason).toBe("process exited (signal SIGKILL)");
    const h2 = reg.register(req("svc", { processName: "svc-proc" }));
    expect(reg.getNode(h2.instanceId)?.restartCount).toBe(1);
    expect(reg.lookup("svc").map((n) => n.instanceId)).toEqual([h2.instanceId]);
  });

  it("unregister removes the instance at once", () => {
    const h = reg.register(req("svc"));
    reg.unregister(h.instanceId);
    expect(reg.nodes()).toHaveLength(0);
    expectCode(() => reg.heartbeat(h.instanceId, 1n), Code.NotFound);
  });

  it("rejects bad registrations with INVALID_ARGUMENT naming the value", () => {
    expectCode(() => reg.register(req("bad name!")), Code.InvalidArgument, /"bad name!"/);
    expectCode(() => reg.register(req("")), Code.InvalidArgument, /invalid service name ""/);
    expectCode(() => reg.register(req("svc", { address: "no-port" })), Code.InvalidArgument, /"no-port"/);
    expectCode(() => reg.register(req("svc", { language: 99 as ServiceLanguage })), Code.InvalidArgument, /language 99/);
    expectCode(() => reg.register(req("svc", { dependencies: ["ok", "not ok"] })), Code.InvalidArgument, /"not ok"/);
  });
});

describe("TopologyRegistry edges and activity", () => {
  let clock: FakeClock;
  let reg: TopologyRegistry;

  beforeEach(() => {
    clock = new FakeClock();
    reg = new TopologyRegistry(clock, { heartbeatIntervalMs: 5000, activeWindowMs: 3000, rateWindowMs: 5000 });
  });

  it("declared dependencies are IDLE edges until traffic flows", () => {
    const c = reg.register(req("client", { type: ServiceType.CLIENT, dependencies: ["server"] }));
    reg.register(req("server"));
    const [edge] = reg.edges();
    expect(edge.id).toBe("client->server");
    expect(edge.declared).toBe(true);
    expect(edge.state).toBe(ConnectionState.IDLE);
    reg.heartbeat(c.instanceId, 1n);
    expect(reg.getNode(c.instanceId)?.state).toBe(ConnectionState.IDLE);
  });

  it("activity makes the edge and both ends ACTIVE with rates; silence makes them IDLE", () => {
    const c = reg.register(req("client", { type: ServiceType.CLIENT }));
    const s = reg.register(req("server"));
    reg.heartbeat(c.instanceId, 1n);
    reg.heartbeat(s.instanceId, 1n);
    for (let i = 0; i < 5; i++) {
      clock.advance(1000);
      reg.reportActivity(c.instanceId, [activity("server", 20, 1)]);
      reg.heartbeat(c.instanceId, BigInt(i + 2));
      reg.heartbeat(s.instanceId, BigInt(i + 2));
    }
    const edge = reg.getEdge("client->server")!;
    expect(edge.state).toBe(ConnectionState.ACTIVE);
    expect(edge.declared).toBe(false);
    expect(edge.requestsPerSecond).toBeCloseTo(20, 0);
    expect(edge.errorsPerSecond).toBeCloseTo(1, 0);
    expect(edge.latencyAvgMs).toBeCloseTo(2, 5);
    expect(edge.latencyMaxMs).toBe(5);
    expect(edge.totalRequests).toBe(100n);
    expect(reg.getNode(c.instanceId)?.state).toBe(ConnectionState.ACTIVE);
    expect(reg.getNode(s.instanceId)?.state).toBe(ConnectionState.ACTIVE);
    clock.advance(3100);
    reg.tick();
    expect(reg.getEdge("client->server")?.state).toBe(ConnectionState.IDLE);
    expect(reg.getNode(c.instanceId)?.state).toBe(ConnectionState.IDLE);
    expect(reg.getNode(s.instanceId)?.state).toBe(ConnectionState.IDLE);
  });

  it("rates are exact whatever the phase of the reports against the clock, and decay to zero", () => {
    const c = reg.register(req("client"));
    for (const phase of [0, 137, 500, 999]) {
      clock.advance(phase);
      for (let i = 0; i < 12; i++) {
        clock.advance(1000);
        reg.reportActivity(c.instanceId, [activity("server", 25)]);
        reg.heartbeat(c.instanceId, 1n);
        if (i >= 5) expect(reg.getEdge("client->server")!.requestsPerSecond).toBeCloseTo(25, 6);
      }
    }
    clock.advance(10_000);
    reg.heartbeat(c.instanceId, 2n);
    reg.tick();
    expect(reg.getEdge("client->server")!.requestsPerSecond).toBe(0);
    expect(reg.getEdge("client->server")!.state).toBe(ConnectionState.IDLE);
  });

  it("edges disappear with their source and come back with a new instance", () => {
    const c = reg.register(req("client", { dependencies: ["server"] }));
    reg.unregister(c.instanceId);
    expect(reg.edges()).toHaveLength(0);
    reg.register(req("client", { dependencies: ["server"] }));
    expect(reg.edges().map((e) => e.id)).toEqual(["client->server"]);
  });

  it("rejects malformed activity", () => {
    const c = reg.register(req("client"));
    expectCode(() => reg.reportActivity(c.instanceId, [activity("bad target!")]), Code.InvalidArgument, /"bad target!"/);
    expectCode(() => reg.reportActivity(c.instanceId, [activity("server", 0)]), Code.InvalidArgument, /count 0/);
    expectCode(() => reg.reportActivity(c.instanceId, [activity("server", 1, 2)]), Code.InvalidArgument, /error_count 2/);
  });

  it("emits urgent changes for state transitions and non-urgent ones for metrics", () => {
    const seen: RegistryChange[] = [];
    reg.subscribe((c) => seen.push(...c));
    const h = reg.register(req("svc"));
    expect(seen).toContainEqual({ kind: "node", id: h.instanceId, urgent: true });
    seen.length = 0;
    reg.heartbeat(h.instanceId, 1n); // REGISTERED -> IDLE
    expect(seen).toEqual([{ kind: "node", id: h.instanceId, urgent: true }]);
    seen.length = 0;
    reg.heartbeat(h.instanceId, 2n); // only metrics/age changed
    expect(seen).toEqual([{ kind: "node", id: h.instanceId, urgent: false }]);
  });
});
