// The control server on real ports with real clients: Connect JSON over HTTP/1.1 (as curl and
// browsers use it), Connect streams over HTTP/1.1, and gRPC over h2c (as services use it).

import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import {
  ConnectionState,
  HeartbeatRequestSchema,
  ServiceLanguage,
  ServiceType,
  TopologyService,
  type TopologyUpdate,
} from "@modular-runtime/proto/runtime/v1/topology";
import { create } from "@bufbuild/protobuf";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "./harness.js";

let server: TestServer;

beforeEach(async () => {
  server = await startTestServer({ topology: { heartbeatIntervalMs: 200, deadLingerMs: 300 } });
});
afterEach(async () => {
  await server.close();
});

const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(`${server.httpUrl}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(body),
  });

describe("TopologyService over Connect JSON (curl-style)", () => {
  it("registers, beats, reports activity and shows up in GetTopology", async () => {
    const reg = await post("/runtime.v1.TopologyService/RegisterService", {
      name: "monolith",
      type: "SERVICE_TYPE_HYBRID",
      language: "SERVICE_LANGUAGE_CPP",
      dependencies: ["sink"],
    });
    expect(reg.status).toBe(200);
    const handle = (await reg.json()) as { instanceId: string; heartbeatIntervalMs: number };
    expect(handle.heartbeatIntervalMs).toBe(200);
    const beat = await post("/runtime.v1.TopologyService/SendHeartbeat", {
      instanceId: handle.instanceId,
      sequence: "1",
      health: { state: "HEALTH_STATE_HEALTHY" },
    });
    expect(await beat.json()).toEqual({ sequence: "1", acknowledged: true });
    const topo = await (await post("/runtime.v1.TopologyService/GetTopology", {})).json();
    expect(topo.nodes).toHaveLength(1);
    expect(topo.nodes[0]).toMatchObject({ name: "monolith", language: "SERVICE_LANGUAGE_CPP", state: "CONNECTION_STATE_IDLE" });
    expect(topo.edges).toEqual([expect.objectContaining({ id: "monolith->sink", declared: true })]);
  });

  it("answers bad arguments with a Connect code and a message naming the value", async () => {
    const res = await post("/runtime.v1.TopologyService/RegisterService", { name: "no spaces allowed" });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { code: string; message: string };
    expect(body.code).toBe("invalid_argument");
    expect(body.message).toContain('"no spaces allowed"');
    const beat = await post("/runtime.v1.TopologyService/SendHeartbeat", { instanceId: "ghost", sequence: "1" });
    expect(beat.status).toBe(404);
    expect(((await beat.json()) as { message: string }).message).toContain('"ghost" is unknown');
  });

  it("refuses oversized messages with RESOURCE_EXHAUSTED", async () => {
    const res = await post("/runtime.v1.TopologyService/RegisterService", { name: "x", version: "v".repeat(5 * 1024 * 1024) });
    expect(res.status).toBe(429);
    expect(((await res.json()) as { code: string }).code).toBe("resource_exhausted");
  });

  it("serves read-only RPCs over Connect GET", async () => {
    const msg = encodeURIComponent(JSON.stringify({ name: "nobody" }));
    const res = await fetch(`${server.httpUrl}/runtime.v1.TopologyService/LookupService?connect=v1&encoding=json&message=${msg}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({});
  });
});

describe("TopologyService with real Connect clients", () => {
  it("heartbeats over a gRPC bidi stream on h2c and ends the stream for a dead instance", async () => {
    const client = createClient(TopologyService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    const handle = await client.registerService({ name: "svc", language: ServiceLanguage.RUST, processName: "svc-proc" });
    let seq = 0n;
    async function* beats() {
      for (;;) {
        yield create(HeartbeatRequestSchema, { instanceId: handle.instanceId, sequence: ++seq });
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const acks: bigint[] = [];
    let error: ConnectError | undefined;
    try {
      for await (const ack of client.heartbeat(beats())) {
        acks.push(ack.sequence);
        if (acks.length === 3) server.services.registry.markProcessExited("svc-proc", "signal SIGKILL");
      }
    } catch (err) {
      error = ConnectError.from(err);
    }
    expect(acks).toEqual([1n, 2n, 3n]);
    expect(error?.code).toBe(Code.NotFound);
    expect(error?.rawMessage).toMatch(/is dead; register again/);
  });

  it("WatchTopology over Connect (HTTP/1.1): snapshot first, then prompt deltas for new, dead and removed instances", async () => {
    const client = createClient(TopologyService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const before = await client.registerService({ name: "first", type: ServiceType.SERVER });
    const abort = new AbortController();
    const updates: TopologyUpdate[] = [];
    const seen = (async () => {
      try {
        for await (const u of client.watchTopology({}, { signal: abort.signal })) updates.push(u);
      } catch {
        // aborted
      }
    })();
    const waitFor = async (pred: () => boolean, what: string) => {
      const deadline = Date.now() + 5000;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    };
    await waitFor(() => updates.length >= 1, "the snapshot");
    expect(updates[0].fullSnapshot).toBe(true);
    expect(updates[0].nodes.map((n) => n.instanceId)).toEqual([before.instanceId]);

    const started = Date.now();
    const h2 = await client.registerService({ name: "second", processName: "second-proc" });
    await waitFor(() => updates.some((u) => u.nodes.some((n) => n.instanceId === h2.instanceId)), "the new node");
    expect(Date.now() - started).toBeLessThan(1000);

    server.services.registry.markProcessExited("second-proc", "code 1");
    await waitFor(
      () => updates.some((u) => u.nodes.some((n) => n.instanceId === h2.instanceId && n.state === ConnectionState.DEAD)),
      "the DEAD state",
    );
    await waitFor(() => updates.some((u) => u.removedNodeIds.includes(h2.instanceId)), "the removal after the linger");
    // The first instance never beat: it goes STALE and DEAD on the configured timeouts.
    await waitFor(() => updates.some((u) => u.removedNodeIds.includes(before.instanceId)), "the timeout removal");
    const states = updates.flatMap((u) => u.nodes.filter((n) => n.instanceId === before.instanceId).map((n) => n.state));
    expect(states).toContain(ConnectionState.STALE);
    expect(states).toContain(ConnectionState.DEAD);
    abort.abort();
    await seen;
  });

  it("WatchTopology over gRPC on h2c delivers the same snapshot", async () => {
    const client = createClient(TopologyService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    await client.registerService({ name: "grpc-seen" });
    const abort = new AbortController();
    for await (const u of client.watchTopology({}, { signal: abort.signal })) {
      expect(u.fullSnapshot).toBe(true);
      expect(u.nodes.map((n) => n.name)).toEqual(["grpc-seen"]);
      break;
    }
    abort.abort();
  });

  it("LookupService returns live instances with addresses, newest first", async () => {
    const client = createClient(TopologyService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    const a = await client.registerService({ name: "calc", address: "127.0.0.1:4001" });
    await new Promise((r) => setTimeout(r, 5));
    const b = await client.registerService({ name: "calc", address: "127.0.0.1:4002" });
    await client.registerService({ name: "other", address: "127.0.0.1:4003" });
    const res = await client.lookupService({ name: "calc" });
    expect(res.instances.map((i) => [i.instanceId, i.address])).toEqual([
      [b.instanceId, "127.0.0.1:4002"],
      [a.instanceId, "127.0.0.1:4001"],
    ]);
  });
});
