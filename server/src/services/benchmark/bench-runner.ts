// Runs the pipeline CLI's `bench` as a child process for the BenchmarkService: one at a time,
// progress read from the child's descriptor 3 (NDJSON), stderr into the log, cancel by SIGTERM
// (the bench kills its current run and records itself as cancelled). The report and the history
// entry are the CLI's own, so the dashboard and `pnpm pipeline bench` cannot disagree.

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { join } from "node:path";
import { Code, ConnectError } from "@connectrpc/connect";
import { BenchHistory, newRunId, type HistoryEntry } from "@modular-runtime/pipeline/bench-history";
import { PIPELINE_CLI, REPO_ROOT } from "@modular-runtime/pipeline/bench-paths";
import type { RunBenchmarkRequest } from "@modular-runtime/proto/runtime/v1/benchmark";

export const ALL_MODES = ["duckdb", "monolith", "split"] as const;
const DISTRIBUTIONS = ["uniform", "zipf", "burst"];
export const LIMITS = { events: 100_000_000, sizes: 4, batchSize: 1_000_000, partitions: 64, warmup: 10, runs: 20, sweep: 8 };
/** After SIGTERM, how long the bench may take to record its cancellation before SIGKILL. */
const CANCEL_GRACE_MS = 15_000;

/** A progress line of the bench (see pipeline/src/bench/bench.ts). */
export type BenchLine = Record<string, unknown> & { t: string };

export interface BenchArgs {
  modes: string[];
  events: number[];
  distribution: string;
  batchSize: number;
  partitions: number;
  warmup: number;
  runs: number;
  seed?: number;
  scaling: number[];
  skipPassthrough: boolean;
}

function bad(message: string): never {
  throw new ConnectError(`benchmark: ${message}`, Code.InvalidArgument);
}

/** Checks a request and fills in the defaults; INVALID_ARGUMENT names the bad value. */
export function benchArgs(req: RunBenchmarkRequest): BenchArgs {
  const modes = req.modes.length ? [...new Set(req.modes)] : [...ALL_MODES];
  modes.forEach((m, i) => {
    if (!(ALL_MODES as readonly string[]).includes(m)) bad(`modes[${i}] ${JSON.stringify(m)} is not one of ${ALL_MODES.join(", ")}`);
  });
  const events = req.events.length ? [...new Set(req.events.map(Number))] : [1_000_000];
  if (events.length > LIMITS.sizes) bad(`at most ${LIMITS.sizes} input sizes, got ${events.length}`);
  events.forEach((n, i) => {
    if (n < 1 || n > LIMITS.events) bad(`events[${i}] must be 1..${LIMITS.events}, got ${n}`);
  });
  const distribution = req.distribution || "uniform";
  if (!DISTRIBUTIONS.includes(distribution)) bad(`distribution must be one of ${DISTRIBUTIONS.join(", ")}, got ${JSON.stringify(distribution)}`);
  if (req.batchSize > LIMITS.batchSize) bad(`batch_size must be 0 (default) or 1..${LIMITS.batchSize}, got ${req.batchSize}`);
  if (req.partitions > LIMITS.partitions) bad(`partitions must be 0 (default) or 1..${LIMITS.partitions}, got ${req.partitions}`);
  if (req.warmupRuns > LIMITS.warmup) bad(`warmup_runs must be 0..${LIMITS.warmup}, got ${req.warmupRuns}`);
  if (req.runs > LIMITS.runs) bad(`runs must be 0 (default 3) or 1..${LIMITS.runs}, got ${req.runs}`);
  if (req.seed !== undefined && req.seed > BigInt(Number.MAX_SAFE_INTEGER)) bad(`seed must be at most ${Number.MAX_SAFE_INTEGER}, got ${req.seed}`);
  const scaling = [...new Set(req.scalingPartitions)];
  if (scaling.length > LIMITS.sweep) bad(`at most ${LIMITS.sweep} scaling_partitions, got ${scaling.length}`);
  scaling.forEach((p, i) => {
    if (p < 1 || p > LIMITS.partitions) bad(`scaling_partitions[${i}] must be 1..${LIMITS.partitions}, got ${p}`);
  });
  if (scaling.length && !modes.includes("monolith") && !modes.includes("split")) bad("scaling_partitions sweeps the monolith and the split; add one of them to modes");
  return {
    modes,
    events,
    distribution,
    batchSize: req.batchSize,
    partitions: req.partitions,
    warmup: req.warmupRuns,
    runs: req.runs || 3,
    seed: req.seed === undefined ? undefined : Number(req.seed),
    scaling,
    skipPassthrough: req.skipPassthrough,
  };
}

/** The CLI's argument list for a request. */
export function cliArgs(a: BenchArgs, id: string, dirs: { history: string; runs: string }, controlUrl: string | undefined): string[] {
  const args = [
    "bench",
    "--modes", a.modes.join(","),
    "--events", a.events.join(","),
    "--distribution", a.distribution,
    "--warmup", String(a.warmup),
    "--runs", String(a.runs),
    "--id", id,
    "--origin", "dashboard",
    "--history-dir", dirs.history,
    "--out-dir", join(dirs.runs, id),
    "--progress-fd", "3",
  ];
  if (a.batchSize) args.push("--batch-size", String(a.batchSize));
  if (a.partitions) args.push("--partitions", String(a.partitions));
  if (a.seed !== undefined) args.push("--seed", String(a.seed));
  if (a.scaling.length) args.push("--scaling", a.scaling.join(","));
  if (a.skipPassthrough) args.push("--no-passthrough");
  if (controlUrl && a.modes.includes("split")) args.push("--control-url", controlUrl);
  return args;
}

export interface ActiveBench {
  id: string;
  startedAtMs: number;
  args: BenchArgs;
  /** Progress lines as they come; null once the bench exited. */
  subscribe(listener: (line: BenchLine | null) => void): () => void;
  /** What a late follower needs: the start, every finished process run, the latest progress. */
  replay(): BenchLine[];
  cancel(): void;
  /** Resolves with the history entry once the child exited. */
  done: Promise<HistoryEntry>;
  ended: boolean;
}

export interface BenchRunnerDeps {
  /** Benchmark directory: history/ and runs/<id>/ below it. */
  dir: string;
  /** The control server's own HTTP URL, so the split uses its stages (known after listen). */
  controlUrl: () => string | undefined;
  /** stderr lines of the bench, e.g. into the log store. */
  onLine?(line: string): void;
  /** Extra environment of the bench, e.g. MR_CONTROL_TOKEN for a token-protected server. */
  env?: Record<string, string>;
  /** The command to run the CLI with (default: this Node with tsx). */
  command?: { cmd: string; prefix: string[] };
  now?: () => number;
}

export class BenchRunner {
  readonly history: BenchHistory;
  private active: ActiveBench | undefined;

  constructor(private readonly deps: BenchRunnerDeps) {
    this.history = new BenchHistory(join(deps.dir, "history"));
  }

  get current(): ActiveBench | undefined {
    return this.active;
  }

  start(a: BenchArgs): ActiveBench {
    if (this.active) {
      throw new ConnectError(`benchmark: another benchmark is running (${this.active.id}); cancel it or wait`, Code.FailedPrecondition);
    }
    const now = this.deps.now ?? Date.now;
    const id = newRunId(new Date(now()));
    const { cmd, prefix } = this.deps.command ?? { cmd: process.execPath, prefix: ["--import", "tsx", PIPELINE_CLI] };
    const child: ChildProcess = spawn(cmd, [...prefix, ...cliArgs(a, id, { history: this.history.dir, runs: join(this.deps.dir, "runs") }, this.deps.controlUrl())], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...this.deps.env },
      stdio: ["ignore", "ignore", "pipe", "pipe"],
      detached: true, // its own process group, so a stuck bench can be killed with its runs
    });
    const listeners = new Set<(line: BenchLine | null) => void>();
    let stderrTail = "";
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderrTail = (stderrTail + line + "\n").slice(-4000);
      this.deps.onLine?.(line);
    });
    const progress = child.stdio[3] as Readable;
    // The bench's own children inherit descriptor 3, so it may stay open after the bench exits:
    // wait for its end, or briefly for what is still buffered.
    const progressEnded = new Promise<void>((resolve) => {
      progress.once("end", resolve);
      progress.once("error", () => resolve());
      progress.once("close", resolve);
    });
    const kept: BenchLine[] = [];
    let latest: BenchLine | undefined;
    createInterface({ input: progress }).on("line", (line) => {
      let msg: BenchLine;
      try {
        msg = JSON.parse(line) as BenchLine;
      } catch {
        return; // not a progress line
      }
      if (msg.t === "start" || msg.t === "completed") kept.push(msg);
      else latest = msg;
      for (const l of listeners) l(msg);
    });
    let killer: NodeJS.Timeout | undefined;
    const bench: ActiveBench = {
      id,
      startedAtMs: now(),
      args: a,
      ended: false,
      subscribe(l) {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      replay: () => (latest ? [...kept, latest] : [...kept]),
      cancel() {
        if (bench.ended || child.exitCode !== null || killer) return;
        child.kill("SIGTERM");
        killer = setTimeout(() => {
          try {
            process.kill(-child.pid!, "SIGKILL");
          } catch {
            // gone already
          }
        }, CANCEL_GRACE_MS);
      },
      done: new Promise<HistoryEntry>((resolve) => {
        let finished = false;
        const finish = async (code: number | null, signal: string | null, error?: Error) => {
          if (finished) return;
          finished = true;
          await Promise.race([progressEnded, new Promise((r) => setTimeout(r, 300))]);
          progress.destroy();
          clearTimeout(killer);
          bench.ended = true;
          if (this.active === bench) this.active = undefined;
          let entry = this.history.get(id);
          if (!entry) {
            // The bench died before recording itself (killed, crashed, or could not start).
            const why = error?.message ?? `the bench exited ${code ?? signal} before writing its report${stderrTail ? `: ${stderrTail.trim().split("\n").slice(-3).join(" | ")}` : ""}`;
            entry = {
              id, status: killer ? "cancelled" : "failed", origin: "dashboard", startedAtMs: bench.startedAtMs, finishedAtMs: now(),
              modes: a.modes, events: a.events, checksumsAgree: false, splitVsMonolith: null, monolithVsDuckdbSql: null, error: why,
            };
            this.history.save(entry);
          }
          for (const l of listeners) l(null);
          resolve(entry);
        };
        child.on("error", (e) => void finish(null, null, e));
        child.on("exit", (code, signal) => void finish(code, signal));
      }),
    };
    this.active = bench;
    return bench;
  }

  /** Cancels the running benchmark (server shutdown). */
  stop(): void {
    this.active?.cancel();
  }
}
