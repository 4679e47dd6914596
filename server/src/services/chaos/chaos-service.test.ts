// The ChaosService through an in-memory Connect transport, on a fake clock.

import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../../clock.js";
import { ChaosService, FaultEventKind, FaultType, type FaultEvent } from "@modular-runtime/proto/runtime/v1/chaos";
import { createChaosService } from "./chaos-service.js";
import { FaultRegistry } from "./fault-registry.js";

let clock: FakeClock;
let sched: FakeScheduler;
let shutdown: AbortController;
let faults: FaultRegistry;
let client: ReturnType<typeof createClient<typeof ChaosService>>;

beforeEach(() => {
  clock = new FakeClock();
  sched = new FakeScheduler(clock);
  shutdown = new AbortController();
  faults = new FaultRegistry({
    clock,
    scheduler: sched,
    processes: [{ name: "parse", faultProxy: true }],
    crash: () => 77,
    hogs: { start: () => ({ pid: 1, stop: () => undefined }) },
  });
  const impl = createChaosService({ faults, shutdown: shutdown.signal });
  client = createClient(ChaosService, createRouterTransport((r) => r.service(ChaosService, impl)));
});

/** Reads events until `n` arrived. */
async function take(it: AsyncIterator<FaultEvent>, n: number): Promise<string[]> {
  const out: string[] = [];
  while (out.length < n) {
    const r = await it.next();
    if (r.done) break;
    out.push(`${FaultEventKind[r.value.kind]} ${r.value.fault?.id}`);
  }
  return out;
}

describe("ChaosService", () => {
  it("WatchFaults sends the active faults first, then INJECTED, EXPIRED, CLEARED and CRASHED as they happen", async () => {
    await client.injectFault({ target: "parse", type: FaultType.DELAY, durationMs: 0, params: { delayMs: 10 } });
    const stream = client.watchFaults({})[Symbol.asyncIterator]();
    expect(await take(stream, 1)).toEqual(["ACTIVE f1"]);
    await client.injectFault({ target: "parse", type: FaultType.ERROR_INJECT, durationMs: 1000, params: { errorRate: 1 } });
    expect(await take(stream, 1)).toEqual(["INJECTED f2"]);
    sched.advance(1000);
    expect(await take(stream, 1)).toEqual(["EXPIRED f2"]);
    await client.clearFault({ id: "f1" });
    await client.injectFault({ target: "parse", type: FaultType.CRASH });
    expect(await take(stream, 2)).toEqual(["CLEARED f1", "CRASHED f3"]);
    shutdown.abort();
    expect((await stream.next()).done).toBe(true);
  });

  it("lists active faults with the time left, clears them all, and answers errors with codes", async () => {
    await client.injectFault({ target: "parse", type: FaultType.PACKET_LOSS, durationMs: 30_000, params: { lossPercent: 50 } });
    sched.advance(10_000);
    const { faults: listed } = await client.listActiveFaults({});
    expect(listed.map((f) => [f.id, f.remainingMs, f.description])).toEqual([["f1", 20_000n, "50% of requests to parse reset"]]);
    expect((await client.clearAllFaults({})).cleared).toBe(1);
    expect((await client.listActiveFaults({})).faults).toEqual([]);

    const err = async (p: Promise<unknown>) => p.then(() => undefined, (e) => ConnectError.from(e));
    expect((await err(client.clearFault({ id: "" })))?.code).toBe(Code.InvalidArgument);
    expect((await err(client.clearFault({ id: "f1" })))?.code).toBe(Code.NotFound);
    const bad = await err(client.injectFault({ target: "parse", type: FaultType.ERROR_INJECT, params: { errorRate: 1.5 } }));
    expect([bad?.code, bad?.rawMessage]).toEqual([Code.InvalidArgument, "chaos: params.error_rate 1.5 is not within 0..1"]);
  });
});
