import { create } from "@bufbuild/protobuf";
import { BenchmarkPhase, BenchmarkProgressSchema } from "@modular-runtime/proto/runtime/v1/benchmark";
import { FaultEventKind, FaultEventSchema, FaultParamsSchema, FaultSchema, FaultType } from "@modular-runtime/proto/runtime/v1/chaos";
import { describe, expect, it } from "vitest";
import { toProgressView, type CompletedView } from "../src/benchAdapters";
import { liveChartRows, reduceLive, startLive, type LiveTick } from "../src/benchLive";
import { faultParamText, formatCountdown, toFaultEventView, toFaultView, type FaultEventView, type FaultView } from "../src/chaosAdapters";
import { CHAOS_PRESETS, chaosTargetFor, customFaultRequest, NODE_ACTIONS, nodeActionRequest, resolvePreset, type TargetProcess } from "../src/chaosPresets";
import { chaosRunRequest, estimateDone, niceCeil, smoothTicks, timelineMarkers, timelineTicks, verdictFromCompleted, verdictFromReport } from "../src/chaosRun";
import { reduceFaults } from "../src/chaosStore";
import { diffProcesses, type ProcessEvent } from "../src/processEvents";
import { faultEventColor } from "../src/theme";
import { sampleReport, SAMPLE_CHECKSUM } from "./benchFixture";

const preset = (id: string) => CHAOS_PRESETS.find((p) => p.id === id)!;

const ALL: TargetProcess[] = [
  { name: "calculator-server", state: "RUNNING" },
  { name: "ingest", state: "RUNNING" },
  { name: "parse", state: "RUNNING" },
  { name: "rules", state: "BACKOFF" },
  { name: "aggregate", state: "RUNNING" },
  { name: "sink", state: "STOPPED" },
];

const fault = (over: Partial<FaultView> = {}): FaultView => ({
  id: "f1",
  target: "aggregate",
  type: "DELAY",
  params: { delayMs: 200, jitterMs: 0, lossPercent: 0, errorRate: 0, cpuThreads: 0, memoryMb: 0 },
  startedAtMs: 1_000,
  expiresAtMs: 31_000,
  description: "+200 ms on every request to aggregate",
  affected: 0,
  ...over,
});

const ev = (kind: FaultEventView["kind"], atMs: number, f: FaultView = fault()): FaultEventView => ({ kind, fault: f, atMs });

describe("countdown and fault texts", () => {
  it("counts down in seconds, then minutes:seconds, and says 'until cleared' without a deadline", () => {
    expect(formatCountdown(0, 5_000)).toBe("until cleared");
    expect(formatCountdown(31_000, 4_000)).toBe("27 s");
    // A fraction of a second left still shows as a second, never as 0 before it is due.
    expect(formatCountdown(31_000, 30_100)).toBe("1 s");
    expect(formatCountdown(31_000, 31_000)).toBe("0 s");
    expect(formatCountdown(31_000, 40_000)).toBe("0 s");
    expect(formatCountdown(100_000, 35_000)).toBe("1:05");
    expect(formatCountdown(100_000, 40_000)).toBe("1:00");
    expect(formatCountdown(3_700_000, 0)).toBe("61:40");
  });

  it("writes each fault's strength in a few words", () => {
    const p = fault().params;
    expect(faultParamText("DELAY", p)).toBe("+200 ms");
    expect(faultParamText("DELAY", { ...p, jitterMs: 50 })).toBe("+200 ms ±50");
    expect(faultParamText("ERROR_INJECT", { ...p, errorRate: 0.2 })).toBe("20 % errors");
    expect(faultParamText("PACKET_LOSS", { ...p, lossPercent: 12.5 })).toBe("12.5 % loss");
    expect(faultParamText("CPU_HOG", { ...p, cpuThreads: 2 })).toBe("CPU hog 2 threads");
    expect(faultParamText("CPU_HOG", { ...p, cpuThreads: 0 })).toBe("CPU hog 1 thread");
    expect(faultParamText("MEMORY_LEAK", { ...p, memoryMb: 512 })).toBe("memory 512 MB");
    expect(faultParamText("CRASH", p)).toBe("kill -9");
  });

  it("turns wire faults and events into views", () => {
    const wire = create(FaultSchema, {
      id: "x",
      target: "rules",
      type: FaultType.MEMORY_LEAK,
      params: create(FaultParamsSchema, { memoryMb: 512n }),
      startedAtMs: 10n,
      expiresAtMs: 20_010n,
      description: "512 MB held beside rules",
      affected: 256n,
    });
    expect(toFaultView(wire)).toMatchObject({ id: "x", target: "rules", type: "MEMORY_LEAK", expiresAtMs: 20_010, affected: 256, params: { memoryMb: 512 } });
    const e = toFaultEventView(create(FaultEventSchema, { kind: FaultEventKind.CRASHED, fault: create(FaultSchema, { target: "parse", type: FaultType.CRASH }), atMs: 99n }));
    expect(e).toMatchObject({ kind: "CRASHED", atMs: 99, fault: { target: "parse", type: "CRASH" } });
  });
});

describe("presets and node actions → InjectFaultRequest", () => {
  it("aims a preset at its configured target with its parameters", () => {
    expect(resolvePreset(preset("kill-parse"), ALL)).toEqual({
      ok: true,
      target: "parse",
      label: "Kill parse",
      request: { target: "parse", type: FaultType.CRASH, durationMs: 0, params: {} },
    });
    expect(resolvePreset(preset("delay-sink"), ALL)).toMatchObject({ ok: true, label: "+200 ms on sink · 30 s", request: { target: "sink", type: FaultType.DELAY, durationMs: 30_000, params: { delayMs: 200 } } });
    expect(resolvePreset(preset("errors-calculator"), ALL)).toMatchObject({ ok: true, request: { type: FaultType.ERROR_INJECT, params: { errorRate: 0.2 } } });
    expect(resolvePreset(preset("memory-leak"), ALL)).toMatchObject({ ok: true, label: "Memory leak 512 MB beside rules · 20 s", request: { target: "rules", params: { memoryMb: 512n } } });
  });

  it("takes the first configured candidate and is disabled when none is configured", () => {
    const noAggregate = ALL.filter((p) => p.name !== "aggregate");
    expect(resolvePreset(preset("cpu-hog"), noAggregate)).toMatchObject({ ok: true, target: "parse", label: "CPU hog beside parse · 2 threads · 20 s" });
    const noSinkNoAggregate = noAggregate.filter((p) => p.name !== "sink");
    expect(resolvePreset(preset("delay-sink"), noSinkNoAggregate)).toEqual({ ok: false, label: "+200 ms on sink · 30 s", reason: "sink / aggregate are not in the config file" });
    expect(resolvePreset(preset("kill-parse"), [])).toMatchObject({ ok: false });
  });

  it("kills a random stage among the running ones", () => {
    // Running stages: ingest, parse, aggregate (rules is in BACKOFF, sink STOPPED).
    const pick = (x: number) => (resolvePreset(preset("kill-random-stage"), ALL, () => x) as { target: string }).target;
    expect(pick(0)).toBe("ingest");
    expect(pick(0.5)).toBe("parse");
    expect(pick(0.999)).toBe("aggregate");
    // None running: any configured stage.
    const down: TargetProcess[] = [{ name: "sink", state: "EXITED" }];
    expect(resolvePreset(preset("kill-random-stage"), down, () => 0.7)).toMatchObject({ ok: true, target: "sink", request: { type: FaultType.CRASH } });
  });

  it("aims a node's actions at its supervised process", () => {
    expect(chaosTargetFor({ name: "parse", processName: "parse" }, ALL)).toBe("parse");
    expect(chaosTargetFor({ name: "calc", processName: "calculator-server" }, ALL)).toBe("calculator-server");
    // Registered without a process name, but a process of that name is configured.
    expect(chaosTargetFor({ name: "ingest", processName: "" }, ALL)).toBe("ingest");
    expect(chaosTargetFor({ name: "pipeline-client", processName: "" }, ALL)).toBe("");
    const [kill, delay, errors] = NODE_ACTIONS;
    expect(nodeActionRequest(kill, "parse")).toEqual({ target: "parse", type: FaultType.CRASH, durationMs: 0, params: {} });
    expect(nodeActionRequest(delay, "aggregate")).toEqual({ target: "aggregate", type: FaultType.DELAY, durationMs: 30_000, params: { delayMs: 200 } });
    expect(nodeActionRequest(errors, "calculator-server")).toEqual({ target: "calculator-server", type: FaultType.ERROR_INJECT, durationMs: 30_000, params: { errorRate: 0.2 } });
  });

  it("validates the custom form and converts its units", () => {
    const ok = (f: Parameters<typeof customFaultRequest>[0]) => customFaultRequest(f).request;
    expect(ok({ target: "calculator-server", type: "DELAY", param: "250", durationSeconds: "0" })).toEqual({
      target: "calculator-server",
      type: FaultType.DELAY,
      durationMs: 0,
      params: { delayMs: 250 },
    });
    expect(ok({ target: "x", type: "ERROR_INJECT", param: "20", durationSeconds: "30" })).toEqual({ target: "x", type: FaultType.ERROR_INJECT, durationMs: 30_000, params: { errorRate: 0.2 } });
    expect(ok({ target: "x", type: "MEMORY_LEAK", param: "512", durationSeconds: "20" })?.params).toEqual({ memoryMb: 512n });
    expect(ok({ target: "x", type: "PACKET_LOSS", param: "12.5", durationSeconds: "5" })?.params).toEqual({ lossPercent: 12.5 });
    // A kill has neither parameter nor duration: whatever is typed there is ignored.
    expect(ok({ target: "parse", type: "CRASH", param: "junk", durationSeconds: "junk" })).toEqual({ target: "parse", type: FaultType.CRASH, durationMs: 0, params: {} });

    const err = (f: Parameters<typeof customFaultRequest>[0]) => customFaultRequest(f).error;
    expect(err({ target: "", type: "DELAY", param: "200", durationSeconds: "30" })).toBe("pick a target process");
    expect(err({ target: "x", type: "CPU_HOG", param: "65", durationSeconds: "30" })).toBe('threads: "65" is outside 1–64');
    expect(err({ target: "x", type: "DELAY", param: "2.5", durationSeconds: "30" })).toBe('delay: "2.5" is outside 1–60000 ms');
    expect(err({ target: "x", type: "DELAY", param: "", durationSeconds: "30" })).toBe('delay: "" is outside 1–60000 ms');
    expect(err({ target: "x", type: "DELAY", param: "200", durationSeconds: "-1" })).toMatch(/^duration: "-1" is not a whole number/);
    expect(err({ target: "x", type: "DELAY", param: "200", durationSeconds: "" })).toMatch(/^duration/);
  });
});

describe("the active faults and the event log", () => {
  const empty = { faults: [], events: [] };

  it("lists ACTIVE and INJECTED faults, removes CLEARED and EXPIRED ones, never lists a CRASH", () => {
    let s = reduceFaults(empty, ev("ACTIVE", 1, fault({ id: "a" })));
    expect(s.faults.map((f) => f.id)).toEqual(["a"]);
    // The snapshot is not news: no marker for it.
    expect(s.events).toEqual([]);
    s = reduceFaults(s, ev("ACTIVE", 2, fault({ id: "a", affected: 5 })));
    expect(s.faults).toHaveLength(1);
    expect(s.faults[0].affected).toBe(5);
    s = reduceFaults(s, ev("INJECTED", 3, fault({ id: "b" })));
    s = reduceFaults(s, ev("CRASHED", 4, fault({ id: "c", type: "CRASH", target: "parse" })));
    expect(s.faults.map((f) => f.id)).toEqual(["a", "b"]);
    s = reduceFaults(s, ev("CLEARED", 5, fault({ id: "a" })));
    s = reduceFaults(s, ev("EXPIRED", 6, fault({ id: "b" })));
    expect(s.faults).toEqual([]);
    expect(s.events.map((e) => `${e.kind}:${e.fault.id}`)).toEqual(["INJECTED:b", "CRASHED:c", "CLEARED:a", "EXPIRED:b"]);
  });
});

describe("restarts from the process stream", () => {
  const p = (name: string, state: TargetProcess["state"], restarts: number, lastExit = "") => ({ name, state, restarts, lastExit });

  it("marks a process going down and coming back, nothing for a first sight or no change", () => {
    expect(diffProcesses([], [p("parse", "RUNNING", 0)], 1)).toEqual([]);
    expect(diffProcesses([p("parse", "RUNNING", 0)], [p("parse", "RUNNING", 0)], 1)).toEqual([]);
    expect(diffProcesses([p("parse", "RUNNING", 0)], [p("parse", "BACKOFF", 0, "signal SIGKILL")], 10)).toEqual([
      { atMs: 10, name: "parse", kind: "down", detail: "signal SIGKILL", restarts: 0 },
    ]);
    expect(diffProcesses([p("parse", "BACKOFF", 0)], [p("parse", "STARTING", 1)], 20)).toEqual([{ atMs: 20, name: "parse", kind: "restarted", detail: "", restarts: 1 }]);
    // Down and back between two snapshots: the count tells.
    expect(diffProcesses([p("parse", "RUNNING", 1)], [p("parse", "RUNNING", 2)], 30).map((e) => e.kind)).toEqual(["restarted"]);
    expect(diffProcesses([p("parse", "STARTING", 1)], [p("parse", "RUNNING", 1)], 40)).toEqual([]);
  });
});

describe("timeline markers", () => {
  const crash = ev("CRASHED", 10_500, fault({ id: "k", type: "CRASH", target: "parse", expiresAtMs: 0 }));
  const restart: ProcessEvent = { atMs: 10_800, name: "parse", kind: "restarted", detail: "", restarts: 1 };
  const down: ProcessEvent = { atMs: 10_510, name: "parse", kind: "down", detail: "signal SIGKILL", restarts: 0 };

  it("places fault events (server clock) and restarts (local clock) at seconds since the run's start", () => {
    // The server's clock is 500 ms ahead of this browser's.
    const m = timelineMarkers([crash, ev("INJECTED", 12_500), ev("CLEARED", 14_500), ev("EXPIRED", 16_500)], [down, restart], 8_000, 20_000, 500);
    expect(m.map((x) => [x.t, x.kind, x.label])).toEqual([
      [2, "crashed", "✕ kill parse"],
      [2.8, "restart", "↻ parse"],
      [4, "injected", "+200 ms aggregate"],
      [6, "cleared", "cleared +200 ms aggregate"],
      [8, "expired", "expired +200 ms aggregate"],
    ]);
    expect(m[0].color).toBe(faultEventColor.crashed);
    expect(m[1].color).toBe(faultEventColor.restart);
    expect(m[2].color).toBe(faultEventColor.injected);
  });

  it("leaves out what happened outside the run, and ACTIVE snapshots", () => {
    const before = ev("INJECTED", 1_000);
    const after = ev("CLEARED", 99_000);
    expect(timelineMarkers([before, after, ev("ACTIVE", 11_000)], [{ ...restart, atMs: 500 }], 8_000, 20_000)).toEqual([]);
  });

  it("rows break between process runs so lines do not join across them", () => {
    // the timeline's ticks, drawn with the benchmark's own row builder
    const ticks: LiveTick[] = [
      { t: 1, mode: "monolith", eventsPerSecond: 3e6, eventsDone: 1, step: 0 },
      { t: 2, mode: "split", eventsPerSecond: 4e5, eventsDone: 1, step: 1 },
      { t: 3, mode: "split", eventsPerSecond: 0, eventsDone: 1, step: 1 },
    ];
    const { rows, modes } = liveChartRows(ticks);
    expect(modes).toEqual(["monolith", "split"]);
    expect(rows).toEqual([{ t: 1, monolith: 3e6 }, { t: 1.5 }, { t: 2, split: 4e5 }, { t: 3, split: 0 }]);
  });

  it("keeps zero-rate ticks of a stalled run for the timeline (the benchmark's chart skips them)", () => {
    const tick = (eps: number, done: number) =>
      toProgressView(create(BenchmarkProgressSchema, { runId: "r", phase: BenchmarkPhase.MEASURING, mode: "split", events: 1_000n, stepsDone: 1, stepsTotal: 3, eventsDone: BigInt(done), eventsPerSecond: eps }));
    let s = reduceLive(startLive(), tick(500, 400), 1);
    s = reduceLive(s, tick(0, 400), 2);
    s = reduceLive(s, tick(300, 700), 3);
    expect(s.ticks.map((k) => k.eventsPerSecond)).toEqual([500, 0, 300]);
    expect(s.points.map((k) => k.eventsPerSecond)).toEqual([500, 300]);
  });
});

describe("the timeline's rate", () => {
  it("is taken over the last second of the process run, from events done", () => {
    const k = (t: number, eventsDone: number, eventsPerSecond: number, step = 1, mode = "split") => ({ t, mode, step, eventsDone, eventsPerSecond });
    // Chunky reads: the per-sample rate swings 0 ↔ 800k around a steady 200k/s.
    const ticks = [k(0, 0, 0), k(0.25, 0, 0), k(0.5, 200_000, 800_000), k(0.75, 200_000, 0), k(1, 200_000, 0), k(1.25, 250_000, 200_000), k(3, 250_000, 0), k(3.25, 0, 0, 2)];
    expect(smoothTicks(ticks).map((x) => Math.round(x.eventsPerSecond))).toEqual([
      0, // nothing earlier in the run: its own figure
      0, // no events done yet
      400_000, // 200k over 0.5 s
      266_667, // 200k over 0.75 s
      200_000, // over the whole second
      250_000, // 250k − 0 (t 0.25) over 1 s
      0, // a tick after a gap: nothing within the window, its own figure
      0, // a new process run starts from scratch
    ]);
  });
});

describe("the timeline's axis", () => {
  it("tops out at a round number", () => {
    expect([0, 0.7, 1, 1.2, 2.1, 4, 589_800, 1_040_000, 2_400_000].map(niceCeil)).toEqual([1, 1, 1, 2, 2.5, 5, 1_000_000, 2_000_000, 2_500_000]);
  });
});

describe("the split's rate from the graph", () => {
  const tick = (t: number, mode: string, step: number, eventsPerSecond: number) => ({ t, mode, step, eventsPerSecond, eventsDone: 0 });
  const sample = (t: number, eventsPerSecond: number, step = 1) => ({ t, mode: "split", step, eventsPerSecond });

  it("stands in for a process run whose ticks carry no rate, and only for it", () => {
    const ticks = [tick(1, "monolith", 0, 3e6), tick(2, "split", 1, 0), tick(3, "split", 1, 0)];
    const merged = timelineTicks(ticks, [sample(2.1, 1e5), sample(2.6, 2e5)]);
    expect(merged.map((k) => [k.t, k.mode, k.eventsPerSecond])).toEqual([
      [1, "monolith", 3e6],
      [2.1, "split", 1e5],
      [2.6, "split", 2e5],
    ]);
    // Once the benchmark has figures for the run, they win.
    const measured = [tick(2, "split", 1, 4e5), tick(3, "split", 1, 0)];
    expect(timelineTicks(measured, [sample(2.1, 1e5)])).toEqual(measured);
    // No samples: the ticks as they are.
    expect(timelineTicks(ticks, [])).toEqual(ticks);
  });

  it("estimates events done from the rate over time, capped at the input size", () => {
    const s = [sample(0, 0), sample(1, 100), sample(2, 100), sample(3, 0), sample(9, 500, 2)];
    expect(estimateDone(s, "split", 1, 1_000)).toBe(200);
    expect(estimateDone(s, "split", 1, 150)).toBe(150);
    expect(estimateDone(s, "split", 2, 1_000)).toBe(0);
  });
});

describe("the verdict", () => {
  it("asks for one counted run of the monolith and the split", () => {
    expect(chaosRunRequest(1_000_000)).toEqual({ modes: ["monolith", "split"], events: 1_000_000, distribution: "uniform", batchSize: 0, partitions: 0, warmupRuns: 0, runs: 1, scalingPartitions: [], skipPassthrough: true });
  });

  it("is identical when the split's checksum is the monolith's", () => {
    expect(verdictFromReport(sampleReport())).toEqual({ kind: "identical", split: SAMPLE_CHECKSUM, monolith: SAMPLE_CHECKSUM, reason: "" });
  });

  it("is DIFFERENT when they differ", () => {
    const r = sampleReport();
    r.summaries = r.summaries.map((s) => (s.mode === "split" ? { ...s, checksum: "0".repeat(64) } : s));
    expect(verdictFromReport(r)).toMatchObject({ kind: "different", split: "0".repeat(64), monolith: SAMPLE_CHECKSUM });
  });

  it("gives none when the split has no result, with the report's reason", () => {
    const r = sampleReport();
    r.summaries = r.summaries.filter((s) => s.mode !== "split");
    r.problems = ["split run 1 on 200,000 events exited with code 1"];
    expect(verdictFromReport(r)).toEqual({ kind: "incomplete", split: "", monolith: SAMPLE_CHECKSUM, reason: "split run 1 on 200,000 events exited with code 1" });
  });

  it("is known from the finished runs before the report is written", () => {
    const c = (mode: string, checksum: string, exitCode = 0): CompletedView => ({ mode, events: 1, runIndex: 1, warmup: false, wallSeconds: 1, eventsPerSecond: 1, checksum, exitCode, partitions: 0 });
    expect(verdictFromCompleted([c("monolith", "aa")])).toBeNull();
    expect(verdictFromCompleted([c("monolith", "aa"), c("split", "aa")])?.kind).toBe("identical");
    expect(verdictFromCompleted([c("monolith", "aa"), c("split", "bb")])?.kind).toBe("different");
    expect(verdictFromCompleted([c("monolith", "aa"), c("split", "", 1)])).toEqual({ kind: "incomplete", monolith: "aa", split: "", reason: "split exited 1" });
  });
});
