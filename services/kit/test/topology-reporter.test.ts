// The reporter against a real h2c Connect server whose TopologyService is a recording fake: it
// registers, beats, sends aggregated activity, re-registers when its instance is declared dead
// or the control server restarts, and unregisters on stop.

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import {
  HeartbeatResponseSchema,
  ServiceHandleSchema,
  TopologyService,
  type ActivityEvent,
  type HeartbeatRequest,
  type RegisterServiceRequest,
} from "@modular-runtime/proto/runtime/v1/topology";
import { afterEach, describe, expect, it } from "vitest";
import { ServiceType, TopologyReporter } from "../src/index.js";

class FakeControl {
  registrations: RegisterServiceRequest[] = [];
  beats: HeartbeatRequest[] = [];
  activity: ActivityEvent[] = [];
  unregistered: string[] = [];
  dead = new Set<string>();
  server?: http2.Http2Server;
  sessions = new Set<http2.ServerHttp2Session>();
  port = 0;

  impl(): Partial<ServiceImpl<typeof TopologyService>> {
    return {
      registerService: (req) => {
        this.registrations.push(req);
        return create(ServiceHandleSchema, { instanceId: `inst-${this.registrations.length}`, heartbeatIntervalMs: 50, timeoutMultiplier: 3, staleMultiplier: 2 });
      },
      heartbeat: async function* (this: FakeControl, reqs: AsyncIterable<HeartbeatRequest>) {
        for await (const r of reqs) {
          if (this.dead.has(r.instanceId)) throw new ConnectError(`instance ${r.instanceId} is dead`, Code.NotFound);
          this.beats.push(r);
          yield create(HeartbeatResponseSchema, { sequence: r.sequence, acknowledged: true });
        }
      }.bind(this),
      reportActivity: (req) => {
        this.activity.push(...req.events);
        return { accepted: req.events.length };
      },
      unregisterService: (req) => {
        this.unregistered.push(req.instanceId);
        return {};
      },
    };
  }

  async listen(port = 0): Promise<void> {
    this.server = http2.createServer(connectNodeAdapter({ routes: (r) => r.service(TopologyService, this.impl()) }));
    this.server.on("session", (session) => {
      this.sessions.add(session);
      session.on("close", () => this.sessions.delete(session));
    });
    this.server.listen(port, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = undefined;
    // Drop open sessions so clients notice at once, as after a kill of the control server.
    for (const session of this.sessions) session.destroy();
    this.sessions.clear();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}

async function until(pred: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let control: FakeControl;
let reporter: TopologyReporter | undefined;
afterEach(async () => {
  await reporter?.stop();
  reporter = undefined;
  await control?.close();
});

const make = (extra: Partial<ConstructorParameters<typeof TopologyReporter>[0]> = {}) =>
  new TopologyReporter({
    controlUrl: `http://127.0.0.1:${control.port}`,
    name: "svc",
    type: ServiceType.CLIENT,
    dependencies: ["dep"],
    processName: "svc-proc",
    activityIntervalMs: 50,
    log: () => undefined,
    ...extra,
  });

describe("TopologyReporter", () => {
  it("registers with its identity and beats with increasing sequence numbers and metrics", async () => {
    control = new FakeControl();
    await control.listen();
    reporter = make();
    await reporter.start();
    expect(reporter.instanceId).toBe("inst-1");
    expect(control.registrations[0]).toMatchObject({ name: "svc", dependencies: ["dep"], processName: "svc-proc", pid: process.pid });
    await until(() => control.beats.length >= 3, "three beats");
    expect(control.beats.map((b) => b.sequence)).toEqual([1n, 2n, 3n, ...control.beats.slice(3).map((b) => b.sequence)]);
    expect(control.beats[0].metrics?.rssBytes).toBeGreaterThan(0n);
  });

  it("aggregates recorded calls into one activity record per target and method", async () => {
    control = new FakeControl();
    await control.listen();
    reporter = make();
    await reporter.start();
    for (let i = 0; i < 100; i++) reporter.recordCall("dep", "M", 2, i % 10 !== 0, 3, i % 10 === 0 ? "boom" : "");
    await until(() => control.activity.length > 0, "an activity report");
    const [ev] = control.activity;
    expect(ev).toMatchObject({ targetService: "dep", method: "M", count: 100, errorCount: 10, itemCount: 300n, latencySumUs: 200_000n, latencyMaxUs: 2000n, lastError: "boom" });
  });

  it("registers again with a new instance when its instance is declared dead", async () => {
    control = new FakeControl();
    await control.listen();
    reporter = make();
    await reporter.start();
    control.dead.add("inst-1");
    await until(() => reporter!.instanceId === "inst-2", "re-registration");
    await until(() => control.beats.some((b) => b.instanceId === "inst-2"), "beats of the new instance");
  });

  it("registers again after the control server restarts", async () => {
    control = new FakeControl();
    await control.listen();
    reporter = make();
    await reporter.start();
    const port = control.port;
    await control.close();
    const restarted = new FakeControl();
    await restarted.listen(port);
    control = restarted;
    await until(() => restarted.registrations.length === 1, "registration with the restarted server", 10_000);
    await until(() => restarted.beats.length > 0, "beats to the restarted server");
  });

  it("keeps retrying while the control server is not up yet", async () => {
    control = new FakeControl();
    await control.listen();
    const port = control.port;
    await control.close();
    reporter = new TopologyReporter({ controlUrl: `http://127.0.0.1:${port}`, name: "early", type: ServiceType.SERVER, log: () => undefined });
    const started = reporter.start();
    await new Promise((r) => setTimeout(r, 300));
    control = new FakeControl();
    await control.listen(port);
    await started;
    expect(control.registrations[0].name).toBe("early");
  });

  it("unregisters on stop", async () => {
    control = new FakeControl();
    await control.listen();
    reporter = make();
    await reporter.start();
    await reporter.stop();
    expect(control.unregistered).toEqual(["inst-1"]);
    const beats = control.beats.length;
    await new Promise((r) => setTimeout(r, 150));
    expect(control.beats.length).toBe(beats);
  });
});
