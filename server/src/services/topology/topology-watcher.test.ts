import { create } from "@bufbuild/protobuf";
import { RegisterServiceRequestSchema, ServiceLanguage, type TopologyUpdate } from "@modular-runtime/proto/runtime/v1/topology";
import { describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { TopologyRegistry } from "./registry.js";
import { TopologyWatcher } from "./topology-watcher.js";

function setup() {
  const clock = new FakeClock();
  const sched = new FakeScheduler(clock);
  const reg = new TopologyRegistry(clock, { heartbeatIntervalMs: 5000 });
  const sent: TopologyUpdate[] = [];
  const watcher = new TopologyWatcher(reg, clock, sched, (u) => sent.push(u), 1000);
  return { clock, sched, reg, sent, watcher };
}

const svc = (name: string) => create(RegisterServiceRequestSchema, { name, language: ServiceLanguage.GO });

describe("TopologyWatcher", () => {
  it("starts with a full snapshot", () => {
    const clock = new FakeClock();
    const reg = new TopologyRegistry(clock);
    reg.register(svc("a"));
    const sent: TopologyUpdate[] = [];
    new TopologyWatcher(reg, clock, new FakeScheduler(clock), (u) => sent.push(u));
    expect(sent).toHaveLength(1);
    expect(sent[0].fullSnapshot).toBe(true);
    expect(sent[0].nodes.map((n) => n.name)).toEqual(["a"]);
  });

  it("sends state changes at once, as one delta per burst", () => {
    const { sched, reg, sent } = setup();
    reg.register(svc("a"));
    reg.register(svc("b"));
    sched.advance(0);
    expect(sent).toHaveLength(2);
    expect(sent[1].fullSnapshot).toBe(false);
    expect(sent[1].nodes.map((n) => n.name).sort()).toEqual(["a", "b"]);
  });

  it("coalesces metric-only changes to one message per second", () => {
    const { sched, reg, sent } = setup();
    const h = reg.register(svc("a"));
    reg.heartbeat(h.instanceId, 1n);
    sched.advance(0);
    const before = sent.length;
    // 50 metric-only beats within 900 ms: nothing may go out before the second is over.
    for (let i = 0; i < 50; i++) {
      reg.heartbeat(h.instanceId, BigInt(i + 2));
      sched.advance(18);
    }
    expect(sent.length).toBe(before);
    sched.advance(200);
    expect(sent.length).toBe(before + 1);
    expect(sent.at(-1)!.nodes[0].lastSequence).toBe(51n);
  });

  it("an urgent change overtakes a pending coalesced one", () => {
    const { sched, reg, sent, clock } = setup();
    const h = reg.register(svc("a"));
    reg.heartbeat(h.instanceId, 1n);
    sched.advance(0);
    reg.heartbeat(h.instanceId, 2n); // metric-only, waits for the coalescing window
    const before = sent.length;
    clock.advance(0);
    reg.markProcessExited("", "x"); // no instance with that process name: no change
    reg.unregister(h.instanceId); // urgent
    sched.advance(0);
    expect(sent.length).toBe(before + 1);
    expect(sent.at(-1)!.removedNodeIds).toEqual([h.instanceId]);
  });

  it("stops sending after close", () => {
    const { sched, reg, sent, watcher } = setup();
    watcher.close();
    reg.register(svc("a"));
    sched.advance(2000);
    expect(sent).toHaveLength(1);
  });
});
