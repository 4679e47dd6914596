import { create } from "@bufbuild/protobuf";
import {
  BenchmarkPhase,
  BenchmarkProgressSchema,
  BenchmarkRunSchema,
  BenchmarkStatus,
  CompletedRunSchema,
} from "@modular-runtime/proto/runtime/v1/benchmark";
import { beforeEach, describe, expect, it } from "vitest";
import { toProgressView, toRunView } from "../src/benchAdapters";
import { failLive, liveChartRows, reduceLive, startLive, type LiveState } from "../src/benchLive";
import { useBenchStore } from "../src/benchStore";
import { sampleReport } from "./benchFixture";

const ID = "20261129T083557Z-53bf23";

const tick = (mode: string, stepsDone: number, eventsDone: number, eps: number, phase = BenchmarkPhase.MEASURING) =>
  toProgressView(
    create(BenchmarkProgressSchema, {
      runId: ID,
      phase,
      mode,
      events: 20_000n,
      runIndex: 1,
      runCount: 3,
      stepsDone,
      stepsTotal: 6,
      eventsDone: BigInt(eventsDone),
      eventsPerSecond: eps,
      runSeconds: 0.5,
    }),
  );

const completed = (mode: string, stepsDone: number) =>
  toProgressView(
    create(BenchmarkProgressSchema, {
      runId: ID,
      phase: BenchmarkPhase.MEASURING,
      mode,
      stepsDone,
      stepsTotal: 6,
      completed: create(CompletedRunSchema, { mode, events: 20_000n, runIndex: 1, wallSeconds: 0.25, eventsPerSecond: 80_000, checksum: "f8efb3cea34e3a6f" }),
    }),
  );

const finalRun = (status: BenchmarkStatus, reportJson: string) =>
  create(BenchmarkRunSchema, {
    runId: ID,
    status,
    startedAtMs: 1_000n,
    finishedAtMs: 29_000n,
    origin: "dashboard",
    modes: ["monolith", "split"],
    events: [20_000n],
    checksumsAgree: true,
    splitVsMonolith: 0.42,
    monolithVsDuckdbSql: 0,
    reportJson,
    reportMarkdown: reportJson ? "# Pipeline benchmark\n" : "",
  });

const fold = (msgs: ReturnType<typeof tick>[]): LiveState => msgs.reduce((s, m, i) => reduceLive(s, m, i), startLive());

describe("bench progress reducer", () => {
  it("follows phase, mode, run and steps, and draws only real rates", () => {
    const first = toProgressView(create(BenchmarkProgressSchema, { runId: ID, phase: BenchmarkPhase.PREPARING, message: "starting" }));
    const s = fold([first, tick("monolith", 0, 0, 0), tick("monolith", 0, 10_000, 40_000), tick("monolith", 0, 20_000, 42_000)]);
    expect(s).toMatchObject({ runId: ID, phase: "measuring", mode: "monolith", runIndex: 1, runCount: 3, stepsDone: 0, stepsTotal: 6, eventsDone: 20_000, elapsed: 3 });
    // The first tick's 0 is "no figure yet", not a point at zero.
    expect(s.points).toEqual([
      { t: 2, mode: "monolith", eventsPerSecond: 40_000, step: 0 },
      { t: 3, mode: "monolith", eventsPerSecond: 42_000, step: 0 },
    ]);
  });

  it("lists a finished run without wiping the current figures, and counts its step", () => {
    const s = fold([tick("monolith", 0, 20_000, 42_000), completed("monolith", 1)]);
    expect(s.completed).toEqual([
      { mode: "monolith", events: 20_000, runIndex: 1, warmup: false, wallSeconds: 0.25, eventsPerSecond: 80_000, checksum: "f8efb3cea34e3a6f", exitCode: 0, partitions: 0 },
    ]);
    expect(s.stepsDone).toBe(1);
    expect(s.runIndex).toBe(1);
    expect(s.eventsDone).toBe(20_000);
    expect(s.points).toHaveLength(1);
  });

  it("ends with the final run and ignores anything after", () => {
    const done = toProgressView(create(BenchmarkProgressSchema, { runId: ID, phase: BenchmarkPhase.DONE, message: "done, all checksums agree", run: finalRun(BenchmarkStatus.PASSED, "") }));
    const s = fold([tick("split", 5, 100, 5000), done]);
    expect(s.phase).toBe("done");
    expect(s.final).toMatchObject({ id: ID, status: "passed", splitVsMonolith: 0.42, monolithVsDuckdbSql: null, events: [20_000] });
    expect(reduceLive(s, tick("split", 5, 200, 6000), 9)).toBe(s);
    expect(failLive(s, "late error")).toBe(s);
    expect(failLive(startLive(), "benchmark: another benchmark is running")).toMatchObject({ phase: "failed", message: "benchmark: another benchmark is running" });
  });

  it("breaks a mode's line between runs, so interleaved runs are separate segments", () => {
    const s = fold([tick("monolith", 0, 1, 10), tick("monolith", 0, 2, 20), tick("split", 1, 1, 5), tick("monolith", 2, 1, 30)]);
    const { rows, modes } = liveChartRows(s.points);
    expect(modes).toEqual(["monolith", "split"]);
    expect(rows).toEqual([{ t: 0, monolith: 10 }, { t: 1, monolith: 20 }, { t: 1.5 }, { t: 2, split: 5 }, { t: 2.5 }, { t: 3, monolith: 30 }]);
  });
});

describe("bench store", () => {
  beforeEach(() => useBenchStore.setState({ live: null, running: false, history: [], historyLoaded: false, loaded: {}, selectedId: null, compareIds: [] }));

  it("shows the finished run at once when the final message carries its report", () => {
    const store = useBenchStore.getState();
    store.begin();
    const json = JSON.stringify({ ...sampleReport(), id: ID });
    store.applyProgress(toProgressView(create(BenchmarkProgressSchema, { runId: ID, phase: BenchmarkPhase.DONE, run: finalRun(BenchmarkStatus.PASSED, json) })), 30);
    const s = useBenchStore.getState();
    expect(s.selectedId).toBe(ID);
    expect(s.loaded[ID].report?.machine.cores).toBe(2);
    expect(s.live?.phase).toBe("done");
  });

  it("keeps a failed run's reason in place of a report", () => {
    const run = toRunView(create(BenchmarkRunSchema, { runId: ID, status: BenchmarkStatus.FAILED, error: "monolith build failed" }));
    useBenchStore.getState().putRun(run);
    expect(useBenchStore.getState().loaded[ID]).toMatchObject({ report: null, reportError: "monolith build failed" });
  });

  it("forgets a run fetched while running once the history says it ended", () => {
    const running = toRunView(create(BenchmarkRunSchema, { runId: ID, status: BenchmarkStatus.RUNNING }));
    useBenchStore.getState().putRun(running);
    useBenchStore.getState().setHistory([running]);
    expect(useBenchStore.getState().loaded[ID]).toBeDefined();
    useBenchStore.getState().setHistory([{ ...running, status: "passed" }]);
    expect(useBenchStore.getState().loaded[ID]).toBeUndefined();
  });

  it("compares at most two runs, a third pick replacing the oldest pick", () => {
    const { toggleCompare } = useBenchStore.getState();
    toggleCompare("a");
    toggleCompare("b");
    toggleCompare("c");
    expect(useBenchStore.getState().compareIds).toEqual(["b", "c"]);
    toggleCompare("b");
    expect(useBenchStore.getState().compareIds).toEqual(["c"]);
  });
});
