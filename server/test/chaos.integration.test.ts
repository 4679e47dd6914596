// Chaos on a real control server: faults through both listeners under the security rules, a
// CRASH of a real child, hog processes that never outlive their fault or the server, and fault
// proxies that LookupService hands out for `faultProxy: true` processes.

import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { ServiceLanguage, ServiceType, TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { afterEach, describe, expect, it } from "vitest";
import { processDefaults, type ProcessConfig } from "../src/config.js";
import { ChaosService, FaultEventKind, FaultType, type FaultEvent } from "@modular-runtime/proto/runtime/v1/chaos";
import { startBackend, type Backend } from "./grpc-backend.js";
import { alive, startTestServer, type TestServer } from "./harness.js";

const root = path.resolve(import.meta.dirname, "../..");

let server: TestServer | undefined;
let backend: Backend | undefined;
afterEach(async () => {
  await server?.close();
  await backend?.close();
  server = backend = undefined;
});

function proc(over: Partial<ProcessConfig> & { name: string }): ProcessConfig {
  return { ...processDefaults, command: process.execPath, cwd: root, language: "javascript", autostart: false, ...over };
}

const SLEEPER = proc({ name: "sleeper", args: ["-e", "setInterval(() => {}, 1000)"], autostart: true, backoffInitialMs: 50, minRunMs: 100 });

/** Live hog processes (by command line), wherever they are in the process tree. */
function hogPids(): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, "utf8");
      if (cmd.includes("chaos/hog.mjs") && alive(Number(e))) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

async function until<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 15_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

async function refusal(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const chaosOver = (baseUrl: string, token?: string) =>
  createClient(
    ChaosService,
    createConnectTransport({
      baseUrl,
      httpVersion: "1.1",
      interceptors: token ? [(next) => (req) => (req.header.set("authorization", `Bearer ${token}`), next(req))] : [],
    }),
  );

describe("ChaosService on a real control server", () => {
  it("is served on both listeners and its mutating RPCs obey the security rules (POST only, control token)", async () => {
    server = await startTestServer({ controlToken: "ctl", shareToken: "share", processes: [proc({ name: "calc", faultProxy: true })] });
    const inject = "/runtime.v1.ChaosService/InjectFault";
    const body = JSON.stringify({ target: "calc", type: "FAULT_TYPE_DELAY", durationMs: 60000, params: { delayMs: 100 } });
    const post = (token?: string) =>
      fetch(`${server!.httpUrl}${inject}`, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body,
      });
    expect((await post()).status).toBe(401);
    expect((await post("share")).status).toBe(401);
    const viaGet = await fetch(`${server.httpUrl}${inject}?connect=v1&encoding=json&message=${encodeURIComponent(body)}&token=ctl`);
    expect(viaGet.status).toBe(405);
    expect(server.services.faults.list()).toEqual([]);
    const ok = await post("ctl");
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ fault: { id: "f1", target: "calc", type: "FAULT_TYPE_DELAY" } });

    // Reading is allowed to the share token, also over GET; clearing is not.
    const list = await fetch(`${server.httpUrl}/runtime.v1.ChaosService/ListActiveFaults?connect=v1&encoding=json&message=%7B%7D&token=share`);
    expect(list.status).toBe(200);
    expect((await list.json()).faults).toHaveLength(1);
    expect((await refusal(chaosOver(server.httpUrl, "share").clearAllFaults({}))).code).toBe(Code.Unauthenticated);

    // The h2c listener (gRPC) serves it too, under the same token.
    const grpc = createClient(
      ChaosService,
      createGrpcTransport({ baseUrl: server.h2cUrl, interceptors: [(next) => (req) => (req.header.set("authorization", "Bearer ctl"), next(req))] }),
    );
    expect((await grpc.listActiveFaults({})).faults.map((f) => f.id)).toEqual(["f1"]);
    expect((await grpc.clearAllFaults({})).cleared).toBe(1);
  });

  it("answers NOT_FOUND for a process outside the config file, naming those in it", async () => {
    server = await startTestServer({ processes: [proc({ name: "calc" }), proc({ name: "sink" })] });
    const err = await refusal(chaosOver(server.httpUrl).injectFault({ target: "x", type: FaultType.CRASH }));
    expect([err.code, err.rawMessage]).toEqual([Code.NotFound, 'chaos: no process named "x" in the config file; it defines: calc, sink']);
  });

  it("CRASH kill -9s a real child; the supervisor restarts it with a new pid", async () => {
    server = await startTestServer({ processes: [SLEEPER] });
    const sup = server.services.supervisor;
    const pid = await until(() => sup.get("sleeper").state === "RUNNING" && sup.get("sleeper").pid, "sleeper running");
    const client = chaosOver(server.httpUrl);
    const events: FaultEvent[] = [];
    const watching = (async () => {
      for await (const ev of client.watchFaults({})) events.push(ev);
    })().catch(() => undefined);
    await until(() => server!.services.faults.watchers > 0, "watcher subscribed");

    const { fault } = await client.injectFault({ target: "sleeper", type: FaultType.CRASH });
    expect(fault).toMatchObject({ type: FaultType.CRASH, affected: BigInt(pid) });
    await until(() => !alive(pid), "the old pid to die");
    const next = await until(() => sup.get("sleeper").pid !== 0 && sup.get("sleeper").pid !== pid && sup.get("sleeper").pid, "a restart");
    expect(alive(next)).toBe(true);
    expect(sup.get("sleeper")).toMatchObject({ restarts: 1, lastExit: "signal SIGKILL" });
    expect((await client.listActiveFaults({})).faults).toEqual([]);
    await until(() => events.length > 0, "the CRASHED event");
    expect(events.map((e) => [FaultEventKind[e.kind], e.fault?.affected])).toEqual([["CRASHED", BigInt(pid)]]);

    sup.stop("sleeper");
    await until(() => sup.get("sleeper").state === "STOPPED", "stopped");
    const err = await refusal(client.injectFault({ target: "sleeper", type: FaultType.CRASH }));
    expect([err.code, err.rawMessage]).toEqual([Code.FailedPrecondition, 'chaos: cannot crash "sleeper": process "sleeper" is not running (STOPPED)']);
    void watching;
  });

  it("CPU_HOG and MEMORY_LEAK run hog processes that end with the fault, and with the server", async () => {
    expect(hogPids()).toEqual([]);
    server = await startTestServer({ processes: [proc({ name: "calc" })] });
    const client = chaosOver(server.httpUrl);
    const cpu = (await client.injectFault({ target: "calc", type: FaultType.CPU_HOG, params: { cpuThreads: 2 } })).fault!;
    const mem = (await client.injectFault({ target: "calc", type: FaultType.MEMORY_LEAK, durationMs: 60_000, params: { memoryMb: 48n } })).fault!;
    const affected = async () => new Map((await client.listActiveFaults({})).faults.map((f) => [f.id, f.affected]));
    await until(async () => (await affected()).get(cpu.id) === 2n && (await affected()).get(mem.id) === 48n, "hogs at full size");
    const [first, second] = await until(() => hogPids().length === 2 && hogPids(), "two hogs");

    await client.clearFault({ id: cpu.id });
    await until(() => hogPids().length === 1, "the CPU hog gone");
    const left = hogPids()[0];
    expect([first, second]).toContain(left);
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${left}/status`, "utf8"))?.[1]);
    expect(rssKb).toBeGreaterThan(48 * 1024);

    await server.close();
    server = undefined;
    await until(() => !alive(left), "the memory hog to die with the server");
    expect(hogPids()).toEqual([]);
  });

  it("puts a fault proxy in front of faultProxy processes: Lookup gives its address, the graph the real one", async () => {
    server = await startTestServer({ processes: [proc({ name: "calc", faultProxy: true }), proc({ name: "plain" })] });
    backend = await startBackend();
    const topo = createClient(TopologyService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    const register = (name: string, processName: string) =>
      topo.registerService({ name, processName, address: backend!.address, type: ServiceType.SERVER, language: ServiceLanguage.TYPESCRIPT });
    const proxiedHandle = await register("calculator-server", "calc");
    await register("plain-server", "plain");

    const proxied = (await topo.lookupService({ name: "calculator-server" })).instances[0].address;
    expect(proxied).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(proxied).not.toBe(backend.address);
    expect((await topo.lookupService({ name: "plain-server" })).instances[0].address).toBe(backend.address);
    const graph = await topo.getTopology({});
    expect(graph.nodes.map((n) => n.address)).toEqual([backend.address, backend.address]);

    // Calls through the proxy reach the service; ERROR_INJECT then answers them itself.
    const calc = createClient(CalculatorService, createGrpcTransport({ baseUrl: `http://${proxied}` }));
    const divide = { operation: Operation.DIVIDE, a: 6, b: 3 };
    expect((await calc.calculate(divide)).result).toBe(2);
    const chaos = chaosOver(server.httpUrl);
    const { fault } = await chaos.injectFault({ target: "calc", type: FaultType.ERROR_INJECT, params: { errorRate: 1 } });
    const calls = backend.calls;
    for (let i = 0; i < 5; i++) {
      const err = await refusal(calc.calculate(divide));
      expect([err.code, err.rawMessage]).toEqual([Code.Unavailable, `chaos: injected error (fault ${fault!.id})`]);
    }
    expect(backend.calls).toBe(calls);
    expect((await chaos.listActiveFaults({})).faults[0].affected).toBe(5n);
    await chaos.clearAllFaults({});
    expect((await calc.calculate(divide)).result).toBe(2);

    // Unregistering closes the proxy.
    await topo.unregisterService({ instanceId: proxiedHandle.instanceId });
    await until(async () => (await refusal(calc.calculate(divide))).code === Code.Unavailable, "the proxy to close");

    // So does the death of the instance's process.
    await register("calculator-server", "calc");
    const again = (await topo.lookupService({ name: "calculator-server" })).instances[0].address;
    expect(again).not.toBe(proxied);
    const calc2 = createClient(CalculatorService, createGrpcTransport({ baseUrl: `http://${again}` }));
    expect((await calc2.calculate(divide)).result).toBe(2);
    server.services.registry.markProcessExited("calc", "signal SIGKILL");
    await until(async () => (await refusal(calc2.calculate(divide))).code === Code.Unavailable, "the proxy to close on exit");
  });

  it("a network fault needs faultProxy on its target: FAILED_PRECONDITION naming the key", async () => {
    server = await startTestServer({ processes: [proc({ name: "plain" })] });
    const err = await refusal(chaosOver(server.httpUrl).injectFault({ target: "plain", type: FaultType.PACKET_LOSS, params: { lossPercent: 5 } }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toMatch(/faultProxy: true/);
  });

  it("WatchFaults sees INJECTED then EXPIRED when a fault's duration runs out", async () => {
    server = await startTestServer({ processes: [proc({ name: "calc", faultProxy: true })] });
    const client = chaosOver(server.httpUrl);
    await client.injectFault({ target: "calc", type: FaultType.DELAY, params: { delayMs: 5 } });
    const seen: string[] = [];
    const stream = client.watchFaults({});
    for await (const ev of stream) {
      seen.push(`${FaultEventKind[ev.kind]} ${ev.fault?.id}`);
      if (seen.length === 1) {
        await client.injectFault({ target: "calc", type: FaultType.PACKET_LOSS, durationMs: 300, params: { lossPercent: 1 } });
      }
      if (seen.length === 3) break;
    }
    expect(seen).toEqual(["ACTIVE f1", "INJECTED f2", "EXPIRED f2"]);
    expect((await client.listActiveFaults({})).faults.map((f) => f.id)).toEqual(["f1"]);
  });

  it("stopping the server reverts every fault and closes the fault proxies", async () => {
    server = await startTestServer({ processes: [proc({ name: "calc", faultProxy: true })] });
    backend = await startBackend();
    const topo = createClient(TopologyService, createGrpcTransport({ baseUrl: server.h2cUrl }));
    await topo.registerService({ name: "calc", processName: "calc", address: backend.address, type: ServiceType.SERVER, language: ServiceLanguage.TYPESCRIPT });
    const proxied = (await topo.lookupService({ name: "calc" })).instances[0].address;
    await chaosOver(server.httpUrl).injectFault({ target: "calc", type: FaultType.DELAY, durationMs: 0, params: { delayMs: 10 } });
    const faults = server.services.faults;
    await server.close();
    server = undefined;
    expect(faults.list()).toEqual([]);
    const calc = createClient(CalculatorService, createGrpcTransport({ baseUrl: `http://${proxied}` }));
    expect((await refusal(calc.calculate(create(CalculatorService.method.calculate.input, { a: 1, b: 1 })))).code).toBe(Code.Unavailable);
  });
});
