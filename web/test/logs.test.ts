import { create, type MessageInitShape } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import {
  GetLogStatsResponseSchema,
  LogEntryKind,
  LogEntrySchema,
  LogLevel,
  LogStream,
  SubscribeLogsResponseSchema,
  type LoggerService,
  type SubscribeLogsRequest,
} from "@modular-runtime/proto/runtime/v1/logger";
import { beforeEach, describe, expect, it, vi } from "vitest";
import {
  emptyFilters,
  filtersFromSearch,
  filtersToSearch,
  hashName,
  regexError,
  serviceColor,
  toLogLineView,
  toLogStatsView,
  toWireFilter,
  type LogLineView,
} from "../src/logAdapters";
import { MAX_LINES, useLogStore } from "../src/logStore";
import { createLogStream } from "../src/logStream";
import { servicePalette } from "../src/theme";

const entry = (seq: number, message = `m${seq}`, extra: Omit<MessageInitShape<typeof LogEntrySchema>, "$typeName"> = {}) =>
  create(LogEntrySchema, { sequence: BigInt(seq), timestampMs: 1_700_000_000_000n, serviceName: "calc", message, level: LogLevel.INFO, ...extra });

const line = (seq: number): LogLineView => toLogLineView(entry(seq));

describe("log filters ↔ URL", () => {
  it("reads every filter from the query", () => {
    expect(filtersFromSearch("?node=calc&logService=a,b&logLevel=warn&logText=slow&logRegex=%5Cd%2Bms&logCorrelation=req-1")).toEqual({
      services: ["a", "b"],
      level: "WARN",
      text: "slow",
      regex: "\\d+ms",
      correlationId: "req-1",
    });
    expect(filtersFromSearch("?logLevel=loud")).toEqual(emptyFilters);
  });

  it("writes them back, dropping empty ones and keeping other parameters like node=", () => {
    const f = { services: ["calculator-server"], level: "ERROR" as const, text: "", regex: "a|b", correlationId: "" };
    const s = filtersToSearch("?node=calculator-server&logText=old&token=t", f);
    expect(s).toBe("?node=calculator-server&token=t&logService=calculator-server&logLevel=error&logRegex=a%7Cb");
    expect(filtersFromSearch(s)).toEqual(f);
    expect(filtersToSearch("?logService=x", emptyFilters)).toBe("");
  });

  it("turns filters into the wire filter and spots regexes the server would refuse", () => {
    expect(toWireFilter({ ...emptyFilters, level: "WARN", services: ["a"] })).toMatchObject({ minLevel: LogLevel.WARN, serviceNames: ["a"] });
    expect(toWireFilter(emptyFilters).minLevel).toBe(LogLevel.UNSPECIFIED);
    expect(regexError("(")).not.toBe("");
    expect(regexError("a+")).toBe("");
    expect(regexError("a".repeat(501))).toMatch(/500/);
  });
});

describe("service colours", () => {
  it("are stable and come from the palette", () => {
    expect(serviceColor("calculator-server")).toBe(serviceColor("calculator-server"));
    expect(hashName("calculator-server")).toBe(hashName("calculator-server"));
    expect(servicePalette).toContain(serviceColor("ingest"));
    const names = ["ingest", "parse", "rules", "aggregate", "sink", "calculator-server", "calculator-client", "calculator-batch"];
    // Spread over the palette, not all one colour.
    expect(new Set(names.map(serviceColor)).size).toBeGreaterThanOrEqual(4);
  });
});

describe("log adapters", () => {
  it("turn a wire entry into a line view", () => {
    const v = toLogLineView(
      entry(7, "divide by zero", {
        level: LogLevel.ERROR,
        correlationId: "req-9",
        stream: LogStream.STDERR,
        fields: { b: "2", a: "1" },
        truncated: true,
        instanceId: "i-1",
      }),
    );
    expect(v).toMatchObject({
      seq: 7,
      tsMs: 1_700_000_000_000,
      service: "calc",
      instanceId: "i-1",
      level: "ERROR",
      message: "divide by zero",
      correlationId: "req-9",
      stream: "stderr",
      fields: [
        ["a", "1"],
        ["b", "2"],
      ],
      truncated: true,
      marker: false,
    });
    expect(toLogLineView(entry(8, "x", { kind: LogEntryKind.MARKER })).marker).toBe(true);
    expect(toLogLineView(entry(9, "x", { level: LogLevel.UNSPECIFIED })).level).toBe("UNKNOWN");
    expect(line(1).key).not.toBe(line(1).key);
  });

  it("sum the stats per service", () => {
    const v = toLogStatsView(
      create(GetLogStatsResponseSchema, {
        services: [
          { serviceName: "a", accepted: 10n, truncated: 1n, droppedRateLimit: 5n, droppedEvicted: 2n },
          { serviceName: "b", accepted: 3n, droppedRateLimit: 1n },
        ],
        buffered: 13n,
        capacity: 10_000n,
      }),
    );
    expect(v).toMatchObject({ accepted: 13, truncated: 1, droppedRateLimit: 6, droppedEvicted: 2, buffered: 13, capacity: 10_000 });
  });
});

describe("log store", () => {
  beforeEach(() => {
    useLogStore.setState({ lines: [], pending: [], waiting: 0, paused: false, lastSeq: 0, filters: emptyFilters });
  });

  it(`keeps at most ${MAX_LINES} lines, the newest`, () => {
    const s = useLogStore.getState();
    s.append(Array.from({ length: MAX_LINES + 500 }, (_, i) => line(i + 1)));
    const { lines, lastSeq } = useLogStore.getState();
    expect(lines).toHaveLength(MAX_LINES);
    expect(lines[0]!.seq).toBe(501);
    expect(lastSeq).toBe(MAX_LINES + 500);
  });

  it("Pause keeps buffering and counts what waits; Resume shows it", () => {
    const s = useLogStore.getState();
    s.append([line(1)]);
    s.setPaused(true);
    s.append([line(2), line(3)]);
    expect(useLogStore.getState()).toMatchObject({ waiting: 2, lastSeq: 3 });
    expect(useLogStore.getState().lines.map((l) => l.seq)).toEqual([1]);
    s.setPaused(false);
    expect(useLogStore.getState()).toMatchObject({ waiting: 0, paused: false });
    expect(useLogStore.getState().lines.map((l) => l.seq)).toEqual([1, 2, 3]);
  });

  it("counts every waiting line even beyond what it keeps", () => {
    const s = useLogStore.getState();
    s.setPaused(true);
    for (let i = 0; i < 3; i++) s.append(Array.from({ length: 1000 }, (_, j) => line(i * 1000 + j + 1)));
    expect(useLogStore.getState().waiting).toBe(3000);
    expect(useLogStore.getState().pending).toHaveLength(MAX_LINES);
  });

  it("new filters start over; equal filters change nothing", () => {
    const s = useLogStore.getState();
    s.append([line(1)]);
    s.setFilters({ ...emptyFilters });
    expect(useLogStore.getState().lines).toHaveLength(1);
    s.setFilters({ ...emptyFilters, level: "ERROR" });
    expect(useLogStore.getState()).toMatchObject({ lines: [], lastSeq: 0, filters: { level: "ERROR" } });
  });
});

describe("log stream", () => {
  beforeEach(() => {
    useLogStore.setState({ lines: [], pending: [], waiting: 0, paused: false, lastSeq: 0, filters: emptyFilters });
  });

  it("batches entries into the store and resumes after the last sequence on reconnect", async () => {
    const requests: SubscribeLogsRequest[] = [];
    const client = {
      subscribeLogs(req: SubscribeLogsRequest) {
        requests.push(req);
        const call = requests.length;
        return (async function* () {
          if (call === 1) {
            yield create(SubscribeLogsResponseSchema, { entries: [entry(1), entry(2)] });
            yield create(SubscribeLogsResponseSchema, { entries: [entry(3)] });
            throw new Error("connection reset");
          }
          yield create(SubscribeLogsResponseSchema, { entries: [entry(4)] });
          await new Promise(() => {});
        })();
      },
    } as unknown as Client<typeof LoggerService>;
    const stream = createLogStream(client, { ...emptyFilters, level: "WARN" }, () => useLogStore.getState());
    stream.start();
    // The reconnect waits 250 ms and the store is fed in batches: wait for the outcome itself, not
    // for a fixed time that a busy machine may overrun.
    await vi.waitFor(() => expect(useLogStore.getState().lines).toHaveLength(4), { timeout: 10_000, interval: 20 });
    stream.stop();
    expect(requests).toHaveLength(2);
    expect(requests[0]!.filter?.minLevel).toBe(LogLevel.WARN);
    expect(requests[0]!.afterSequence).toBe(0n);
    expect(requests[1]!.afterSequence).toBe(3n);
    expect(useLogStore.getState().lines.map((l) => l.seq)).toEqual([1, 2, 3, 4]);
    expect(useLogStore.getState().status).toBe("live");
  });
});
