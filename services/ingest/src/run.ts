// One run of the split pipeline as ingest drives it (services/PIPELINE.md): check the request,
// find parse, open its Process stream, send the header, frame the file into batches under a
// credit window, send End, and wait for the RunComplete that comes back up the chain. A
// checkpointed run sends barriers, commits the checkpoints the sink confirms, and when a stage
// fails opens the chain again from the last committed one ("Checkpoints and recovery").

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { RunProgressSchema, type RunComplete, type RunProgress, type RunRequest } from "@modular-runtime/proto/pipeline/v1/pipeline";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import {
  crashPointFromEnv,
  lookupAddress,
  maybeCrash,
  newCorrelationId,
  unixNanos,
  writeFileAtomic,
  type Logger,
} from "@modular-runtime/service-kit";
import { accessSync, constants, mkdirSync, readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { Batcher } from "./batcher.js";
import { ChainStream } from "./chain.js";
import { ShmRing } from "./shm-ring.js";

// batchSize: the monolith's default too, so a benchmark with defaults compares equal batches.
// 32,768 lines (~4 MB): every hop has a cost per batch (a Python thread hand-off, a Go
// dispatch, a stream message), which 8,192-line batches paid four times as often (the split
// used 8.9 instead of 6.3 CPU-s for 10M events; the monolith is as fast at either size).
// window: batches in flight to parse. Parse is the chain's busiest stage, so batches queue in
// front of it: 3 keeps it busy (throughput as with 8) with less queueing (with 8,192-line
// batches: p99 batch latency ~45 instead of ~70 ms at 3M events on the 2-core machine).
export const DEFAULTS = { batchSize: 32_768, window: 3, maxWaitMs: 50, checkpointIntervalMs: 500, recoveryTimeoutMs: 30_000, progressIntervalMs: 1000 };
export const LIMITS = { batchSize: 1_000_000, window: 1024, maxWaitMs: 60_000, checkpointIntervalMs: 3_600_000, recoveryTimeoutMs: 3_600_000, progressIntervalMs: 60_000 };
/** Codes that say the run itself is wrong: retrying cannot help. */
const FINAL_CODES = new Set([
  Code.InvalidArgument,
  Code.FailedPrecondition,
  Code.ResourceExhausted,
  Code.NotFound,
  Code.PermissionDenied,
  Code.Unauthenticated,
  Code.Unimplemented,
]);
/** Reads of the input go straight into batch buffers, this many bytes at a time. */
const READ_BYTES = 1024 * 1024;
/**
 * Slots of the shared-memory ring, at most (one per batch in flight): a larger window sends
 * the batches that find no free slot inline.
 */
const MAX_RING_SLOTS = 8;
const RETRY_FIRST_MS = 20;
const RETRY_MAX_MS = 250;

const crash = crashPointFromEnv("ingest", ["commit"]);

export interface IngestDeps {
  topology: Client<typeof TopologyService>;
  log: Logger;
  /** Name to look up for the next stage (default "parse"). */
  downstream: string;
  /** Called for every acknowledged batch, for the topology's activity report. */
  recordCall?: (target: string, method: string, latencyMs: number, ok: boolean, items: number, error?: string) => void;
  /** How long to wait for the downstream to appear in the topology. */
  lookupTimeoutMs?: number;
  progressIntervalMs?: number;
  /** Makes the shared-memory ring of a stream (default ShmRing.tryCreate; tests replace it). */
  makeRing?: (slots: number, slotBytes: number) => { ring?: ShmRing; error?: string };
}

function invalid(message: string): ConnectError {
  return new ConnectError(`ingest: ${message}`, Code.InvalidArgument);
}

function checked(name: string, value: number, fallback: number, max: number, min = 1): number {
  if (value === 0) return fallback;
  if (value > max || value < min) throw invalid(`${name} must be between ${min} and ${max}, got ${value}`);
  return value;
}

/** Validates a RunRequest; returns the settings with defaults filled in. */
export function checkRequest(req: RunRequest) {
  if (req.inputPath === "") throw invalid("input_path is required");
  if (!isAbsolute(req.inputPath)) throw invalid(`input_path must be absolute, got ${JSON.stringify(req.inputPath)}`);
  if (req.outDir === "") throw invalid("out_dir is required");
  if (!isAbsolute(req.outDir)) throw invalid(`out_dir must be absolute, got ${JSON.stringify(req.outDir)}`);
  if (req.checkpointDir !== "" && !isAbsolute(req.checkpointDir)) {
    throw invalid(`checkpoint_dir must be absolute, got ${JSON.stringify(req.checkpointDir)}`);
  }
  if (req.resume && (req.runId === "" || req.checkpointDir === "")) throw invalid("resume needs run_id and checkpoint_dir");
  let size: number;
  try {
    const st = statSync(req.inputPath);
    if (!st.isFile()) throw invalid(`input_path ${JSON.stringify(req.inputPath)} is not a file`);
    accessSync(req.inputPath, constants.R_OK);
    size = st.size;
  } catch (e) {
    if (e instanceof ConnectError) throw e;
    throw new ConnectError(`ingest: cannot read input_path ${JSON.stringify(req.inputPath)}: ${(e as Error).message}`, Code.NotFound);
  }
  return {
    inputBytes: size,
    batchSize: checked("batch_size", req.batchSize, DEFAULTS.batchSize, LIMITS.batchSize),
    window: checked("window", req.window, DEFAULTS.window, LIMITS.window),
    maxWaitMs: checked("max_wait_ms", req.maxWaitMs, DEFAULTS.maxWaitMs, LIMITS.maxWaitMs),
    checkpointIntervalMs: checked("checkpoint_interval_ms", req.checkpointIntervalMs, DEFAULTS.checkpointIntervalMs, LIMITS.checkpointIntervalMs),
    recoveryTimeoutMs: checked("recovery_timeout_ms", req.recoveryTimeoutMs, DEFAULTS.recoveryTimeoutMs, LIMITS.recoveryTimeoutMs),
    progressIntervalMs: req.progressIntervalMs === 0 ? undefined : checked("progress_interval_ms", req.progressIntervalMs, 0, LIMITS.progressIntervalMs, 50),
  };
}

/**
 * A committed checkpoint, as `ingest.json` keeps it: the position just after the last batch
 * before the barrier. Checkpoint 0 is the start of the file.
 */
interface Commit {
  runId: string;
  inputPath: string;
  checkpoint: string;
  /** File offset and physical line the next batch starts after. */
  offset: number;
  line: number;
  nextTrace: string;
  /** Attempts so far, and when the run began (Unix ns), so wall time spans all attempts. */
  attempt: number;
  startedUnixNs: string;
}

const COMMIT_FILE = "ingest.json";

function readCommit(req: RunRequest): Commit | undefined {
  let c: Commit;
  try {
    c = JSON.parse(readFileSync(join(req.checkpointDir, COMMIT_FILE), "utf8")) as Commit;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined; // nothing committed yet
    throw new ConnectError(`ingest: cannot read ${join(req.checkpointDir, COMMIT_FILE)}: ${(e as Error).message}`, Code.FailedPrecondition);
  }
  if (c.runId !== req.runId || c.inputPath !== req.inputPath) {
    throw new ConnectError(
      `ingest: ${join(req.checkpointDir, COMMIT_FILE)} belongs to run ${c.runId} over ${c.inputPath}, not run ${req.runId} over ${req.inputPath}`,
      Code.FailedPrecondition,
    );
  }
  return c;
}

function saveCommit(req: RunRequest, c: Commit): void {
  writeFileAtomic(join(req.checkpointDir, COMMIT_FILE), JSON.stringify(c));
}

function retryable(err: ConnectError): boolean {
  return !FINAL_CODES.has(err.code);
}

/** State shared by the attempts of one run. */
interface RunState {
  committed: Commit;
  /** When the current series of failures began (ms; 0: none since the last commit). */
  failingSince: number;
  lastFailure: string;
}

/**
 * Runs the file through the chain, yielding progress (about once a second by default) and the
 * completion last; a checkpointed run survives the failure of any stage.
 */
export async function* runIngest(req: RunRequest, deps: IngestDeps, signal: AbortSignal): AsyncGenerator<RunProgress> {
  const settings = checkRequest(req);
  const runId = req.runId || newCorrelationId();
  const checkpointed = req.checkpointDir !== "";
  const log = deps.log.child({ correlationId: runId });
  const fresh: Commit = {
    runId,
    inputPath: req.inputPath,
    checkpoint: "0",
    offset: 0,
    line: 0,
    nextTrace: "1",
    attempt: 0,
    startedUnixNs: String(unixNanos()),
  };
  const state: RunState = { committed: (req.resume ? readCommit(req) : undefined) ?? fresh, failingSince: 0, lastFailure: "" };
  if (checkpointed) mkdirSync(req.checkpointDir, { recursive: true });
  let attempt = state.committed.attempt + 1;
  let replayed = 0n;
  let delay = RETRY_FIRST_MS;
  for (;;) {
    if (checkpointed) {
      // the attempt count survives ingest itself: a resumed run never reuses an attempt number
      state.committed = { ...state.committed, attempt };
      saveCommit(req, state.committed);
    }
    const from = state.committed;
    const outcome = { lastTrace: BigInt(from.nextTrace) - 1n };
    try {
      const { complete, linesRead, lineTransport } = yield* runAttempt(req, settings, deps, signal, { runId, log, attempt, from, state, checkpointed, outcome });
      complete.attempts = attempt;
      complete.replayedBatches = replayed;
      complete.checkpoints = BigInt(state.committed.checkpoint);
      log.info(`run complete: ${complete.lines} lines, checksum ${complete.checksum || "(pass-through)"}`, {
        wallSeconds: complete.wallSeconds,
        attempts: attempt,
        ...lineTransport,
      });
      yield create(RunProgressSchema, {
        runId,
        inputBytes: BigInt(settings.inputBytes),
        bytesRead: BigInt(settings.inputBytes),
        linesRead: BigInt(linesRead),
        batchesAcked: complete.batches,
        attempt,
        checkpoint: BigInt(state.committed.checkpoint),
        lastFailure: state.lastFailure,
        complete,
      });
      return;
    } catch (e) {
      const err = ConnectError.from(e);
      const now = Date.now();
      if (!checkpointed || signal.aborted || !retryable(err)) {
        log.error(`run failed: ${err.message}`);
        throw err;
      }
      if (state.failingSince === 0) {
        state.failingSince = now;
        delay = RETRY_FIRST_MS;
      }
      if (now - state.failingSince > settings.recoveryTimeoutMs) {
        log.error(`run failed: no recovery within ${settings.recoveryTimeoutMs} ms: ${err.message}`);
        throw new ConnectError(`ingest: gave up after ${settings.recoveryTimeoutMs} ms of failed attempts: ${err.rawMessage}`, err.code);
      }
      const resumeAfter = BigInt(state.committed.nextTrace) - 1n;
      if (outcome.lastTrace > resumeAfter) replayed += outcome.lastTrace - resumeAfter;
      state.lastFailure = err.rawMessage;
      log.warn(`attempt ${attempt} failed (${err.rawMessage}); resuming from checkpoint ${state.committed.checkpoint}`, { code: Code[err.code] });
      yield create(RunProgressSchema, {
        runId,
        inputBytes: BigInt(settings.inputBytes),
        attempt,
        checkpoint: BigInt(state.committed.checkpoint),
        resumedAfterLine: BigInt(state.committed.line),
        lastFailure: state.lastFailure,
      });
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(RETRY_MAX_MS, delay * 2);
      attempt++;
    }
  }
}

interface AttemptContext {
  runId: string;
  log: Logger;
  attempt: number;
  from: Commit;
  state: RunState;
  checkpointed: boolean;
  /** The last trace id this attempt sent, for the replay count. */
  outcome: { lastTrace: bigint };
}

/** One attempt: the chain opened once, from `ctx.from` to the end of the file. */
async function* runAttempt(
  req: RunRequest,
  settings: ReturnType<typeof checkRequest>,
  deps: IngestDeps,
  signal: AbortSignal,
  ctx: AttemptContext,
): AsyncGenerator<RunProgress, { complete: RunComplete; linesRead: number; lineTransport: { sharedBatches: number; inlineBatches: number } }> {
  const { runId, log, attempt, from, state } = ctx;
  const recovering = attempt > 1 && state.failingSince > 0;
  const lookupTimeoutMs = recovering ? Math.max(100, settings.recoveryTimeoutMs - (Date.now() - state.failingSince)) : deps.lookupTimeoutMs;
  const address = await lookupAddress(deps.topology, "ingest", deps.downstream, { signal, timeoutMs: lookupTimeoutMs, retryMs: recovering ? 20 : 100 });
  const resumeCheckpoint = BigInt(from.checkpoint);
  log.info(`run started: ${req.inputPath} → ${req.outDir}` + (attempt > 1 ? ` (attempt ${attempt}, from checkpoint ${resumeCheckpoint}, line ${from.line})` : ""), {
    downstream: `${deps.downstream}@${address}`,
    batchSize: settings.batchSize,
    window: settings.window,
    passthrough: req.passthrough,
    checkpointed: ctx.checkpointed,
  });

  // Barriers sent and not yet confirmed, with the position each one stands for. At most two
  // are outstanding, so the three snapshots a stage keeps always include the committed one.
  const pending = new Map<bigint, Commit>();
  let nextBarrier = resumeCheckpoint + 1n;
  const commit = (n: bigint) => {
    const pos = pending.get(n);
    if (!pos) return;
    maybeCrash(crash, "commit", n);
    state.committed = { ...pos, attempt };
    saveCommit(req, state.committed);
    for (const k of pending.keys()) if (k <= n) pending.delete(k);
    state.failingSince = 0;
  };
  const batcher = new Batcher({
    batchSize: settings.batchSize,
    maxWaitMs: settings.maxWaitMs,
    readBytes: READ_BYTES,
    start: { offset: from.offset, line: from.line + 1, trace: BigInt(from.nextTrace) },
  });
  let ring: ShmRing | undefined;
  if (!req.inlineLines) {
    const made = (deps.makeRing ?? ShmRing.tryCreate)(Math.min(settings.window, MAX_RING_SLOTS), batcher.maxBatchBytes);
    ring = made.ring;
    if (made.error) log.warn(`no shared memory for the line data, sending it inline: ${made.error}`);
  }
  const chain = new ChainStream(
    {
      address,
      downstream: deps.downstream,
      window: settings.window,
      recordCall: deps.recordCall,
      onCheckpointDone: commit,
      onBatchWritten: (b) => batcher.recycle(b),
      ring,
    },
    {
      runId,
      rulesJson: req.rulesJson,
      partitions: req.partitions,
      outDir: req.outDir,
      inputPath: req.inputPath,
      batchSize: settings.batchSize,
      passthrough: req.passthrough,
      startedUnixNs: BigInt(from.startedUnixNs),
      checkpointDir: req.checkpointDir,
      resumeCheckpoint,
      attempt,
    },
  );
  const onAbort = () => chain.cancel();
  signal.addEventListener("abort", onAbort, { once: true });

  let bytesRead = from.offset;
  let linesRead = from.line;
  let busyNs = 0n;
  let lastProgress = performance.now();
  let lastBarrier = performance.now();
  const interval = settings.progressIntervalMs ?? deps.progressIntervalMs ?? DEFAULTS.progressIntervalMs;
  const progress = (complete?: RunComplete) =>
    create(RunProgressSchema, {
      runId,
      inputBytes: BigInt(settings.inputBytes),
      linesRead: BigInt(linesRead),
      bytesRead: BigInt(bytesRead),
      batchesAcked: chain.acked,
      linesAcked: chain.linesAcked,
      resumedAfterLine: BigInt(from.line),
      attempt,
      checkpoint: BigInt(state.committed.checkpoint),
      lastFailure: state.lastFailure,
      complete,
    });
  const send = async () => {
    for (const batch of batcher.ready.splice(0)) {
      await chain.send(batch);
      const meta = batch.meta!;
      ctx.outcome.lastTrace = meta.traceId as bigint;
      if (ctx.checkpointed && pending.size < 2 && performance.now() - lastBarrier >= settings.checkpointIntervalMs) {
        pending.set(nextBarrier, {
          ...state.committed,
          checkpoint: String(nextBarrier),
          offset: Number(meta.endOffset),
          line: Number(meta.lastLine),
          nextTrace: String((meta.traceId as bigint) + 1n),
        });
        chain.barrier(nextBarrier++);
        lastBarrier = performance.now();
      }
    }
  };

  try {
    // Reading and framing keep this thread busy, and the header and batches only reach the
    // socket when the event loop runs: let the connection come up and the header go out first,
    // so the stages after this one set up their streams while the first batches are framed.
    await chain.connected();
    const steps = batcher.frameFile(req.inputPath, (n) => (bytesRead += n), { offset: from.offset, linesBefore: from.line });
    let physicalLines = 0;
    for (;;) {
      const t0 = process.hrtime.bigint();
      const step = steps.next();
      linesRead = batcher.lastLineNo;
      if (step.done) {
        physicalLines = step.value;
        batcher.finish(bytesRead, physicalLines);
      } else batcher.expire();
      busyNs += process.hrtime.bigint() - t0;
      const sending = batcher.ready.length > 0;
      await send();
      // A batch handed to the stream is written when the event loop next runs: let it run now,
      // not only once the credit window is full.
      if (sending) await new Promise((r) => setImmediate(r));
      if (performance.now() - lastProgress >= interval) {
        lastProgress = performance.now();
        yield progress();
      }
      if (step.done) break;
    }
    const ended = chain.end({
      physicalLines,
      inputBytes: bytesRead,
      eventsIn: linesRead - from.line,
      busyNs,
      batches: BigInt(batcher.batches),
    });
    // Progress keeps coming while the chain drains; a failure surfaces from `await ended`.
    let finished = false;
    const settled = ended.then(() => (finished = true), () => (finished = true));
    while (!finished) {
      await Promise.race([settled, new Promise((r) => setTimeout(r, interval))]);
      if (!finished) yield progress();
    }
    const sharedBatches = chain.sharedBatches;
    return { complete: await ended, linesRead, lineTransport: { sharedBatches, inlineBatches: Number(chain.sent) - sharedBatches } };
  } catch (e) {
    const err = chain.failed ?? ConnectError.from(e);
    chain.cancel();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    if (ring?.failure) log.warn(`shared memory failed, the rest of the line data went inline: ${ring.failure}`);
  }
}
