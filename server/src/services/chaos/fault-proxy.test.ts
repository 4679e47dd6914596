// The fault proxy against a real h2c backend with real gRPC and Connect clients: it forwards
// unary and bidi calls byte for byte (trailers and errors included), and each network fault
// does what a caller would notice.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { ParseService, StageRequestSchema, type StageRequest } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ackFor, MAX_MESSAGE, startBackend, type Backend } from "../../../test/grpc-backend.js";
import { FaultProxy, type NetFault } from "./fault-proxy.js";

let backend: Backend;
let proxy: FaultProxy;
let faults: (NetFault & { hits: number })[];

function fault(over: Partial<NetFault> & Pick<NetFault, "kind">): NetFault & { hits: number } {
  const f = {
    id: `f${faults.length + 1}`,
    delayMs: 0,
    jitterMs: 0,
    lossPercent: 0,
    errorRate: 0,
    hits: 0,
    ...over,
    hit() {
      f.hits++;
    },
  };
  faults.push(f);
  return f;
}

beforeEach(async () => {
  faults = [];
  backend = await startBackend();
  proxy = await FaultProxy.start({ target: backend.address, label: "backend", faults: () => faults });
});
afterEach(async () => {
  await proxy.close();
  await backend.close();
});

const grpc = (address: string) =>
  createGrpcTransport({ baseUrl: `http://${address}`, readMaxBytes: MAX_MESSAGE, writeMaxBytes: MAX_MESSAGE });
const connect = (address: string) =>
  createConnectTransport({ baseUrl: `http://${address}`, httpVersion: "2", readMaxBytes: MAX_MESSAGE, writeMaxBytes: MAX_MESSAGE });

function batch(traceId: number, data: Uint8Array): StageRequest {
  return create(StageRequestSchema, {
    kind: { case: "batch", value: { meta: { traceId: BigInt(traceId) }, payload: { case: "raw", value: { data } } } },
  });
}

function payload(size: number, seed: number): Uint8Array {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4096) b[i] = (i / 4096 + seed) & 0xff;
  return b.fill(seed & 0xff, 0, Math.min(size, 17));
}

async function* requests(items: StageRequest[]): AsyncIterable<StageRequest> {
  for (const r of items) yield r;
}

/** Runs one bidi call and returns the acks (as bigint) or the error. */
async function bidi(t: Transport, items: StageRequest[]): Promise<bigint[]> {
  const acks: bigint[] = [];
  for await (const res of createClient(ParseService, t).process(requests(items))) {
    if (res.kind.case === "ack") acks.push(res.kind.value);
  }
  return acks;
}

async function codeOf(p: Promise<unknown>): Promise<ConnectError> {
  try {
    await p;
  } catch (err) {
    return ConnectError.from(err);
  }
  throw new Error("expected the call to fail");
}

const end = create(StageRequestSchema, { kind: { case: "end", value: {} } });
const divide = (a: number, b: number) => ({ operation: Operation.DIVIDE, a, b });

describe("fault proxy: pass-through", () => {
  it("forwards unary gRPC and Connect calls, and their errors (gRPC trailers, Connect bodies)", async () => {
    for (const t of [grpc(proxy.address), connect(proxy.address)]) {
      const calc = createClient(CalculatorService, t);
      expect((await calc.calculate(divide(6, 3))).result).toBe(2);
      const err = await codeOf(calc.calculate(divide(1, 0)));
      expect(err.code).toBe(Code.InvalidArgument);
      expect(err.rawMessage).toBe("division by zero");
    }
    expect(backend.calls).toBe(4);
    expect(proxy.streams).toBe(4);
  });

  it("forwards a bidi gRPC stream with large messages intact, full duplex, and a mid-stream error", async () => {
    const sizes = [1, 1000, 4 * 1024 * 1024, 64 * 1024 * 1024, 70_000, 0];
    const datas = sizes.map((s, i) => payload(s, i + 1));
    // Two such streams at once on one connection (one client), as a pipeline stage has.
    const t = grpc(proxy.address);
    const both = await Promise.all([0, 1].map(() => bidi(t, [...datas.map((d, i) => batch(i + 1, d)), end])));
    expect(both).toEqual([datas.map(ackFor), datas.map(ackFor)]);

    // Full duplex: each ack arrives while the request stream is still open.
    const client = createClient(ParseService, grpc(proxy.address));
    let release!: () => void;
    const acked: bigint[] = [];
    async function* interactive() {
      for (let i = 1; i <= 3; i++) {
        yield batch(i, payload(1000 * i, i));
        await new Promise<void>((r) => (release = r));
      }
      yield end;
    }
    for await (const res of client.process(interactive())) {
      if (res.kind.case === "ack") {
        acked.push(res.kind.value);
        release();
      }
    }
    expect(acked).toHaveLength(3);

    const err = await codeOf(bidi(grpc(proxy.address), [batch(1, payload(10, 1)), batch(999, payload(10, 2)), end]));
    expect(err.code).toBe(Code.DataLoss);
    expect(err.rawMessage).toBe("batch 999 is poisoned");
  });

  it("forwards bidi streams over the Connect protocol too", async () => {
    const datas = [payload(100, 1), payload(2 * 1024 * 1024, 2)];
    expect(await bidi(connect(proxy.address), [...datas.map((d, i) => batch(i + 1, d)), end])).toEqual(datas.map(ackFor));
  });

  it("answers UNAVAILABLE naming the target when it cannot be reached, and drops callers on close", async () => {
    await backend.close();
    const err = await codeOf(createClient(CalculatorService, grpc(proxy.address)).calculate(divide(1, 1)));
    expect(err.code).toBe(Code.Unavailable);
    expect(err.rawMessage).toMatch(new RegExp(`chaos proxy: cannot reach backend at ${backend.address}`));
    await proxy.close();
    expect((await codeOf(createClient(CalculatorService, grpc(proxy.address)).calculate(divide(1, 1)))).code).toBe(Code.Unavailable);
  });
});

describe("fault proxy: faults", () => {
  it("ERROR_INJECT rate 1 fails every call with UNAVAILABLE before it reaches the service; rate 0 none", async () => {
    const f = fault({ kind: "error", errorRate: 1 });
    const message = "chaos: injected error (fault f1)";
    for (const t of [grpc(proxy.address), connect(proxy.address)]) {
      const unary = await codeOf(createClient(CalculatorService, t).calculate(divide(6, 3)));
      expect([unary.code, unary.rawMessage]).toEqual([Code.Unavailable, message]);
      const stream = await codeOf(bidi(t, [batch(1, payload(10, 1)), end]));
      expect([stream.code, stream.rawMessage]).toEqual([Code.Unavailable, message]);
    }
    expect(backend.calls).toBe(0);
    expect(f.hits).toBe(4);

    faults.length = 0;
    fault({ kind: "error", errorRate: 0 });
    for (let i = 0; i < 20; i++) expect((await createClient(CalculatorService, grpc(proxy.address)).calculate(divide(6, 3))).result).toBe(2);
    expect(backend.calls).toBe(20);
    expect(faults[0].hits).toBe(0);
  });

  it("ERROR_INJECT answers a share of the calls close to the rate", async () => {
    const f = fault({ kind: "error", errorRate: 0.5 });
    const calc = createClient(CalculatorService, grpc(proxy.address));
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      try {
        await calc.calculate(divide(1, 1));
      } catch {
        failed++;
      }
    }
    expect(failed).toBe(f.hits);
    expect(failed).toBeGreaterThan(50);
    expect(failed).toBeLessThan(150);
  });

  it("PACKET_LOSS 100 resets every new stream (UNAVAILABLE) and hits streams already open", async () => {
    const client = createClient(ParseService, grpc(proxy.address));
    // A stream opened before the fault: its first ack comes through, then the fault is injected.
    let next!: () => void;
    async function* slow() {
      yield batch(1, payload(10, 1));
      await new Promise<void>((r) => (next = r));
      yield batch(2, payload(10, 2));
      await new Promise(() => undefined); // keeps the stream open
    }
    const seen: bigint[] = [];
    const open = (async () => {
      for await (const res of client.process(slow())) {
        if (res.kind.case === "ack") {
          seen.push(res.kind.value);
          if (seen.length === 1) {
            fault({ kind: "loss", lossPercent: 100 });
            next();
          }
        }
      }
    })();
    const openErr = await codeOf(open);
    expect([openErr.code, openErr.rawMessage]).toEqual([Code.Unavailable, "chaos: stream reset (packet loss, fault f1)"]);
    expect(seen).toHaveLength(1);

    const calls = backend.calls;
    for (const t of [grpc(proxy.address), connect(proxy.address)]) {
      const unary = await codeOf(createClient(CalculatorService, t).calculate(divide(6, 3)));
      expect([unary.code, unary.rawMessage]).toEqual([Code.Unavailable, "chaos: stream reset (packet loss, fault f1)"]);
      expect((await codeOf(bidi(t, [batch(1, payload(10, 1)), end]))).code).toBe(Code.Unavailable);
    }
    expect(backend.calls).toBe(calls);
    expect(faults[0].hits).toBe(5);
  });

  it("DELAY holds each request (and each chunk of an open stream) for at least delay_ms", async () => {
    const calc = createClient(CalculatorService, grpc(proxy.address));
    await calc.calculate(divide(1, 1)); // connections up
    const f = fault({ kind: "delay", delayMs: 300, jitterMs: 50 });
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      expect((await calc.calculate(divide(6, 3))).result).toBe(2);
      expect(performance.now() - t0).toBeGreaterThanOrEqual(300);
    }
    expect(f.hits).toBe(3);

    // A bidi stream: each batch's ack comes ≥ 300 ms after the batch was sent.
    let sentAt = 0;
    let release!: () => void;
    async function* paced() {
      for (let i = 1; i <= 2; i++) {
        sentAt = performance.now();
        yield batch(i, payload(100_000, i));
        await new Promise<void>((r) => (release = r));
      }
      yield end;
    }
    const waits: number[] = [];
    for await (const res of createClient(ParseService, grpc(proxy.address)).process(paced())) {
      if (res.kind.case === "ack") {
        waits.push(performance.now() - sentAt);
        release();
      }
    }
    expect(waits).toHaveLength(2);
    for (const w of waits) expect(w).toBeGreaterThanOrEqual(300);
  });
});
