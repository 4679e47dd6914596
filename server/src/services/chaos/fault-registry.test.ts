import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { SupervisorErrors } from "../../supervisor/errors.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { FaultEventKind, FaultParamsSchema, FaultType, InjectFaultRequestSchema, type FaultEvent } from "@modular-runtime/proto/runtime/v1/chaos";

type FaultParams = Omit<MessageInitShape<typeof FaultParamsSchema>, "$typeName">;
import { FaultRegistry, type HogHooks } from "./fault-registry.js";

let clock: FakeClock;
let sched: FakeScheduler;
let hogs: { target: string; kind: string; amount: number; hooks: HogHooks; stopped: boolean; pid: number }[];
let crashed: string[];
let running: Set<string>;
let reg: FaultRegistry;
let events: FaultEvent[];

beforeEach(() => {
  clock = new FakeClock();
  sched = new FakeScheduler(clock);
  hogs = [];
  crashed = [];
  running = new Set(["parse", "rules"]);
  reg = new FaultRegistry({
    clock,
    scheduler: sched,
    processes: [
      { name: "parse", faultProxy: true },
      { name: "rules", faultProxy: false },
      { name: "sink", faultProxy: false },
    ],
    crash(name) {
      if (!running.has(name)) throw SupervisorErrors.notRunning(name, "STOPPED");
      crashed.push(name);
      return 4242;
    },
    hogs: {
      start(target, kind, amount, hooks) {
        const h = { target, kind, amount, hooks, stopped: false, pid: 9000 + hogs.length };
        hogs.push(h);
        return {
          pid: h.pid,
          stop: () => {
            h.stopped = true;
          },
        };
      },
    },
  });
  events = [];
  reg.watch((e) => events.push(e));
});

function inject(target: string, type: FaultType, durationMs = 0, params: Partial<FaultParams> = {}) {
  return reg.inject(create(InjectFaultRequestSchema, { target, type, durationMs, params }));
}

function refusal(fn: () => unknown): ConnectError {
  try {
    fn();
  } catch (err) {
    return err as ConnectError;
  }
  throw new Error("expected a refusal");
}

const kinds = () => events.map((e) => `${FaultEventKind[e.kind]} ${e.fault?.id}`);

describe("fault lifecycle", () => {
  it("a fault reverts by itself at its deadline; remaining_ms counts down", () => {
    const f = inject("parse", FaultType.DELAY, 5000, { delayMs: 200 });
    expect(f).toMatchObject({ id: "f1", target: "parse", remainingMs: 5000n, description: "+200 ms on every request to parse" });
    expect(f.expiresAtMs - f.startedAtMs).toBe(5000n);
    expect(reg.netFaults("parse")).toHaveLength(1);
    sched.advance(2000);
    expect(reg.list().map((x) => x.remainingMs)).toEqual([3000n]);
    sched.advance(2999);
    expect(reg.list()).toHaveLength(1);
    sched.advance(1);
    expect(reg.list()).toEqual([]);
    expect(reg.netFaults("parse")).toEqual([]);
    expect(kinds()).toEqual(["INJECTED f1", "EXPIRED f1"]);
    expect(events[1].fault?.remainingMs).toBe(0n);
  });

  it("duration 0 lasts until cleared; ClearFault reverts one, unknown ids are NOT_FOUND", () => {
    inject("parse", FaultType.ERROR_INJECT, 0, { errorRate: 0.5 });
    inject("parse", FaultType.PACKET_LOSS, 0, { lossPercent: 10 });
    sched.advance(86_400_000);
    expect(reg.list().map((f) => [f.id, f.remainingMs, f.expiresAtMs])).toEqual([
      ["f1", 0n, 0n],
      ["f2", 0n, 0n],
    ]);
    expect(reg.clear("f1").id).toBe("f1");
    expect(reg.list().map((f) => f.id)).toEqual(["f2"]);
    const err = refusal(() => reg.clear("f1"));
    expect([err.code, err.rawMessage]).toEqual([Code.NotFound, 'chaos: no active fault with id "f1" (active: f2)']);
    expect(kinds()).toEqual(["INJECTED f1", "INJECTED f2", "CLEARED f1"]);
  });

  it("ClearAllFaults reverts everything at once: hogs killed, network faults gone, timers cancelled", () => {
    inject("parse", FaultType.DELAY, 10_000, { delayMs: 50 });
    inject("rules", FaultType.CPU_HOG, 0, { cpuThreads: 2 });
    inject("sink", FaultType.MEMORY_LEAK, 0, { memoryMb: 64n });
    expect(reg.clearAll()).toBe(3);
    expect(reg.list()).toEqual([]);
    expect(hogs.map((h) => h.stopped)).toEqual([true, true]);
    expect(reg.netFaults("parse")).toEqual([]);
    expect(sched.pending).toBe(0);
    expect(reg.clearAll()).toBe(0);
  });

  it("close (the server stops) reverts every fault and refuses new ones", () => {
    inject("rules", FaultType.CPU_HOG, 60_000, {});
    expect(reg.close()).toBe(1);
    expect(hogs[0].stopped).toBe(true);
    expect(sched.pending).toBe(0);
    expect(refusal(() => inject("rules", FaultType.CPU_HOG)).code).toBe(Code.Unavailable);
  });

  it("hogs report what they hold as `affected`; a hog that dies ends its fault", () => {
    const cpu = inject("rules", FaultType.CPU_HOG);
    expect([hogs[0].kind, hogs[0].amount, cpu.description]).toEqual(["cpu", 1, "1 busy thread beside rules"]);
    inject("rules", FaultType.MEMORY_LEAK, 0, { memoryMb: 512n });
    hogs[1].hooks.onProgress(128);
    expect(reg.list().map((f) => f.affected)).toEqual([0n, 128n]);
    hogs[1].hooks.onExit("signal SIGKILL");
    expect(reg.list().map((f) => f.id)).toEqual(["f1"]);
    expect(events.at(-1)).toMatchObject({ kind: FaultEventKind.CLEARED });
    expect(events.at(-1)?.fault?.description).toMatch(/hog process ended: signal SIGKILL/);
  });

  it("network faults are handed to the proxies and count what they hit", () => {
    inject("parse", FaultType.DELAY, 0, { delayMs: 100, jitterMs: 20 });
    inject("parse", FaultType.PACKET_LOSS, 0, { lossPercent: 12.5 });
    const net = reg.netFaults("parse");
    expect(net.map((n) => [n.kind, n.delayMs, n.jitterMs, n.lossPercent])).toEqual([
      ["delay", 100, 20, 0],
      ["loss", 0, 0, 12.5],
    ]);
    net[1].hit();
    net[1].hit();
    expect(reg.list().map((f) => f.affected)).toEqual([0n, 2n]);
    expect(reg.netFaults("rules")).toEqual([]);
  });

  it("CRASH kills the process at once, is reported as CRASHED with the pid and never listed", () => {
    const f = inject("parse", FaultType.CRASH, 5000);
    expect(crashed).toEqual(["parse"]);
    expect(f).toMatchObject({ type: FaultType.CRASH, affected: 4242n, description: "kill -9 of parse (pid 4242)", expiresAtMs: 0n });
    expect(reg.list()).toEqual([]);
    expect(kinds()).toEqual(["CRASHED f1"]);
    const err = refusal(() => inject("sink", FaultType.CRASH));
    expect([err.code, err.rawMessage]).toEqual([Code.FailedPrecondition, 'chaos: cannot crash "sink": process "sink" is not running (STOPPED)']);
  });

  it("a watcher first gets the active faults", () => {
    inject("parse", FaultType.DELAY, 0, { delayMs: 1 });
    const sub = reg.watch(() => undefined);
    expect(sub.active.map((e) => [FaultEventKind[e.kind], e.fault?.id])).toEqual([["ACTIVE", "f1"]]);
    sub.unsubscribe();
  });
});

describe("validation", () => {
  it("an unknown target is NOT_FOUND, naming the processes of the config file", () => {
    const err = refusal(() => inject("nope", FaultType.CPU_HOG));
    expect(err.code).toBe(Code.NotFound);
    expect(err.rawMessage).toBe('chaos: no process named "nope" in the config file; it defines: parse, rules, sink');
    expect(refusal(() => inject("", FaultType.CPU_HOG)).code).toBe(Code.InvalidArgument);
  });

  it.each<[FaultType, Partial<FaultParams>, number, string]>([
    [FaultType.UNSPECIFIED, {}, 0, "type 0 is not a fault type; use one of CRASH, DELAY, PACKET_LOSS, ERROR_INJECT, CPU_HOG, MEMORY_LEAK"],
    [99 as FaultType, {}, 0, "type 99 is not a fault type"],
    [FaultType.ERROR_INJECT, { errorRate: 1.5 }, 0, "params.error_rate 1.5 is not within 0..1"],
    [FaultType.ERROR_INJECT, { errorRate: Number.NaN }, 0, "params.error_rate NaN is not within 0..1"],
    [FaultType.PACKET_LOSS, { lossPercent: 101 }, 0, "params.loss_percent 101 is not within 0..100"],
    [FaultType.PACKET_LOSS, { lossPercent: -1 }, 0, "params.loss_percent -1 is not within 0..100"],
    [FaultType.DELAY, { delayMs: 0 }, 0, "params.delay_ms 0 is not within 1..60000"],
    [FaultType.DELAY, { delayMs: 10, jitterMs: 70_000 }, 0, "params.jitter_ms 70000 is not within 0..60000"],
    [FaultType.CPU_HOG, { cpuThreads: 65 }, 0, "params.cpu_threads 65 is not within 1..64"],
    [FaultType.MEMORY_LEAK, {}, 0, "params.memory_mb 0 is not within 1..16384"],
    [FaultType.MEMORY_LEAK, { memoryMb: 20_000n }, 0, "params.memory_mb 20000 is not within 1..16384"],
    [FaultType.CPU_HOG, {}, 90_000_000, "duration_ms 90000000 is not within 0..86400000"],
  ])("type %s with %o for %d ms is INVALID_ARGUMENT", (type, params, durationMs, message) => {
    const err = refusal(() => inject("parse", type, durationMs, params));
    expect(err.code).toBe(Code.InvalidArgument);
    expect(err.rawMessage).toContain(`chaos: ${message}`);
    expect(reg.list()).toEqual([]);
    expect(hogs).toEqual([]);
  });

  it("a network fault on a process without a fault proxy is FAILED_PRECONDITION naming the config key", () => {
    const err = refusal(() => inject("rules", FaultType.DELAY, 0, { delayMs: 100 }));
    expect(err.code).toBe(Code.FailedPrecondition);
    expect(err.rawMessage).toBe('chaos: DELAY needs a fault proxy in front of "rules": set `faultProxy: true` for it in the config file');
  });

  it("keeps only the parameters of the fault's type; cpu_threads defaults to 1", () => {
    const f = inject("rules", FaultType.CPU_HOG, 0, { delayMs: 5, errorRate: 0.5 });
    expect(f.params).toMatchObject({ cpuThreads: 1, delayMs: 0, errorRate: 0 });
  });
});
