// The BenchmarkService: RPC glue over the BenchRunner (the RunBenchmark stream, the history,
// cancellation, shutdown).

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import type { HistoryEntry } from "@modular-runtime/pipeline/bench-history";
import { isRunId } from "@modular-runtime/pipeline/bench-history";
import {
  BenchmarkPhase,
  BenchmarkProgressSchema,
  BenchmarkRunSchema,
  BenchmarkStatus,
  CancelRunResponseSchema,
  CompletedRunSchema,
  ListRunsResponseSchema,
  type BenchmarkProgress,
  type BenchmarkRun,
  type BenchmarkService,
} from "@modular-runtime/proto/runtime/v1/benchmark";
import { benchArgs, type ActiveBench, type BenchLine, type BenchRunner } from "./bench-runner.js";

export interface BenchmarkServiceDeps {
  runner: BenchRunner;
  /** Aborted when the server shuts down: cancels the running benchmark and ends its stream. */
  shutdown: AbortSignal;
}

/** Unread progress messages a slow client may have; older ticks go first, nothing else does. */
const MAX_QUEUED = 256;

const PHASES: Record<string, BenchmarkPhase> = {
  preparing: BenchmarkPhase.PREPARING,
  generating: BenchmarkPhase.GENERATING,
  warmup: BenchmarkPhase.WARMUP,
  measuring: BenchmarkPhase.MEASURING,
  scaling: BenchmarkPhase.SCALING,
  reporting: BenchmarkPhase.REPORTING,
};

const STATUSES: Record<HistoryEntry["status"], BenchmarkStatus> = {
  passed: BenchmarkStatus.PASSED,
  problems: BenchmarkStatus.PROBLEMS,
  failed: BenchmarkStatus.FAILED,
  cancelled: BenchmarkStatus.CANCELLED,
};

const num = (v: unknown): number => (typeof v === "number" && Number.isFinite(v) ? v : 0);
const u64 = (v: unknown): bigint => BigInt(Math.max(0, Math.round(num(v))));

export function runFromEntry(e: HistoryEntry, withReport: boolean): BenchmarkRun {
  return create(BenchmarkRunSchema, {
    runId: e.id,
    status: STATUSES[e.status],
    startedAtMs: BigInt(e.startedAtMs),
    finishedAtMs: BigInt(e.finishedAtMs),
    origin: e.origin,
    modes: e.modes,
    events: e.events.map((n) => BigInt(n)),
    checksumsAgree: e.checksumsAgree,
    splitVsMonolith: e.splitVsMonolith ?? 0,
    monolithVsDuckdbSql: e.monolithVsDuckdbSql ?? 0,
    error: e.error,
    reportJson: withReport && e.report ? JSON.stringify(e.report, null, 2) + "\n" : "",
    reportMarkdown: withReport ? (e.markdown ?? "") : "",
  });
}

function runningRun(b: ActiveBench): BenchmarkRun {
  return create(BenchmarkRunSchema, {
    runId: b.id,
    status: BenchmarkStatus.RUNNING,
    startedAtMs: BigInt(b.startedAtMs),
    origin: "dashboard",
    modes: b.args.modes,
    events: b.args.events.map((n) => BigInt(n)),
  });
}

/** A bench progress line as a progress message (null for lines the client does not need). */
export function progressFromLine(id: string, line: BenchLine): BenchmarkProgress | null {
  switch (line.t) {
    case "start":
      return create(BenchmarkProgressSchema, { runId: id, phase: BenchmarkPhase.PREPARING, stepsTotal: num(line.stepsTotal), message: "starting" });
    case "phase":
      return create(BenchmarkProgressSchema, {
        runId: id,
        phase: PHASES[String(line.phase)] ?? BenchmarkPhase.UNSPECIFIED,
        events: u64(line.events),
        eventsDone: u64(line.eventsDone),
        message: String(line.message ?? ""),
      });
    case "tick":
      return create(BenchmarkProgressSchema, {
        runId: id,
        phase: PHASES[String(line.phase)] ?? BenchmarkPhase.UNSPECIFIED,
        mode: String(line.mode ?? ""),
        events: u64(line.events),
        runIndex: num(line.runIndex),
        runCount: num(line.runCount),
        stepsDone: num(line.stepsDone),
        stepsTotal: num(line.stepsTotal),
        eventsDone: u64(line.eventsDone),
        eventsPerSecond: num(line.eventsPerSecond),
        runSeconds: num(line.runSeconds),
        partitions: num(line.partitions),
        message: line.partitions ? `${num(line.partitions)} partitions` : "",
      });
    case "completed":
      return create(BenchmarkProgressSchema, {
        runId: id,
        phase: line.partitions ? BenchmarkPhase.SCALING : line.warmup ? BenchmarkPhase.WARMUP : BenchmarkPhase.MEASURING,
        mode: String(line.mode ?? ""),
        events: u64(line.events),
        stepsDone: num(line.stepsDone),
        stepsTotal: num(line.stepsTotal),
        partitions: num(line.partitions),
        completed: create(CompletedRunSchema, {
          mode: String(line.mode ?? ""),
          events: u64(line.events),
          runIndex: num(line.runIndex),
          warmup: line.warmup === true,
          wallSeconds: num(line.wallSeconds),
          eventsPerSecond: num(line.eventsPerSecond),
          checksum: String(line.checksum ?? ""),
          exitCode: num(line.exitCode),
          partitions: num(line.partitions),
        }),
      });
    default:
      return null; // "done": the final message is built from the history entry
  }
}

function finalProgress(e: HistoryEntry): BenchmarkProgress {
  const phase = e.status === "cancelled" ? BenchmarkPhase.CANCELLED : e.status === "failed" ? BenchmarkPhase.FAILED : BenchmarkPhase.DONE;
  return create(BenchmarkProgressSchema, {
    runId: e.id,
    phase,
    message: e.status === "passed" ? "done, all checksums agree" : e.error,
    run: runFromEntry(e, true),
  });
}

/**
 * A benchmark's progress messages until it ends, then its final message; with `replay`, first
 * what happened so far. Ends early when `signal` aborts (cancelling the benchmark if asked to).
 */
async function* follow(
  bench: ActiveBench,
  signal: AbortSignal,
  opts: { replay: boolean; cancelOnAbort: boolean },
): AsyncGenerator<BenchmarkProgress> {
  const queue: BenchmarkProgress[] = [];
  let wake: (() => void) | undefined;
  let over = bench.ended;
  const push = (line: BenchLine) => {
    const m = progressFromLine(bench.id, line);
    if (!m) return;
    if (queue.length >= MAX_QUEUED) {
      const tick = queue.findIndex((q) => q.completed === undefined);
      queue.splice(tick >= 0 ? tick : 0, 1);
    }
    queue.push(m);
  };
  const unsubscribe = bench.subscribe((line) => {
    if (line === null) over = true;
    else push(line);
    wake?.();
  });
  if (opts.replay) for (const line of bench.replay()) push(line);
  const onAbort = () => {
    if (opts.cancelOnAbort) bench.cancel();
    wake?.();
  };
  signal.addEventListener("abort", onAbort);
  try {
    for (;;) {
      const m = queue.shift();
      if (m) {
        yield m;
        continue;
      }
      if (over || signal.aborted) break;
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
    const entry = await bench.done;
    if (!signal.aborted) yield finalProgress(entry);
  } finally {
    unsubscribe();
    signal.removeEventListener("abort", onAbort);
  }
}

export function createBenchmarkService(deps: BenchmarkServiceDeps): ServiceImpl<typeof BenchmarkService> {
  const { runner } = deps;
  const entryOrThrow = (id: string): HistoryEntry => {
    if (!isRunId(id)) throw new ConnectError(`benchmark: run_id ${JSON.stringify(id)} is not a run id (like 20261129T082500Z-3fa9c1)`, Code.InvalidArgument);
    const e = runner.history.get(id);
    if (!e) throw new ConnectError(`benchmark: no run ${id}`, Code.NotFound);
    return e;
  };
  deps.shutdown.addEventListener("abort", () => runner.stop(), { once: true });

  return {
    async *runBenchmark(req, ctx) {
      if (deps.shutdown.aborted) throw new ConnectError("benchmark: the control server is stopping", Code.Unavailable);
      const bench = runner.start(benchArgs(req));
      yield create(BenchmarkProgressSchema, { runId: bench.id, phase: BenchmarkPhase.PREPARING, message: "starting" });
      // Replay too: lines that came while the first message waited for the client are not lost.
      yield* follow(bench, ctx.signal, { replay: true, cancelOnAbort: !req.detach });
    },

    async *watchRun(req, ctx) {
      const current = runner.current;
      if (current?.id === req.runId) {
        yield* follow(current, ctx.signal, { replay: true, cancelOnAbort: false });
        return;
      }
      yield finalProgress(entryOrThrow(req.runId));
    },

    listRuns(req) {
      const limit = req.limit || 50;
      const current = runner.current;
      const runs = runner.history.list(limit).map((e) => runFromEntry(e, false));
      return create(ListRunsResponseSchema, { runs: current ? [runningRun(current), ...runs].slice(0, limit) : runs });
    },

    getRun(req) {
      const current = runner.current;
      if (current?.id === req.runId) return runningRun(current);
      return runFromEntry(entryOrThrow(req.runId), true);
    },

    cancelRun(req) {
      const current = runner.current;
      if (current?.id === req.runId) {
        current.cancel();
        return create(CancelRunResponseSchema, { cancelled: true });
      }
      if (isRunId(req.runId) && runner.history.get(req.runId)) return create(CancelRunResponseSchema, { cancelled: false });
      throw new ConnectError(`benchmark: no run ${JSON.stringify(req.runId)}`, Code.NotFound);
    },
  };
}
