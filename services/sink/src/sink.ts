// The sink stage's work for one run (services/PIPELINE.md): appends dead letters as batches
// arrive, adds up the counters, records each batch's end-to-end latency, collects the aggregate
// groups, and on End writes the canonical results.json (§4.4), dead-letters.ndjson and
// metrics.json, then answers with the RunComplete that travels back up the chain.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  DeadLetterReason,
  LatencySummarySchema,
  RunCompleteSchema,
  StageMetricsSchema,
  StageResponseSchema,
  type Batch,
  type End,
  type ResultPart,
  type RunHeader,
  type StageRequest,
  type StageResponse,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import {
  crashPointFromEnv,
  maybeCrash,
  processFigures,
  pruneSnapshots,
  unixNanos,
  writeFileAtomic,
  type Logger,
} from "@modular-runtime/service-kit";
import { writeOutputs } from "@modular-runtime/pipeline/outputs";
import { deadLetterLine, resultsParts, type Group } from "@modular-runtime/pipeline/results";
import { percentile } from "@modular-runtime/pipeline/stats";
import { readGroups, WindowColumnsReader } from "./result-columns.js";
import { closeSync, ftruncateSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

const REASONS: Record<number, "invalid_json" | "invalid_event"> = {
  [DeadLetterReason.INVALID_JSON]: "invalid_json",
  [DeadLetterReason.INVALID_EVENT]: "invalid_event",
};

function fail(code: Code, message: string): never {
  throw new ConnectError(`sink: ${message}`, code);
}

/** Where dead-letters.ndjson stood at a checkpoint. */
interface DeadLetterPosition {
  bytes: number;
  count: number;
  lastLine: string;
}

/** Buffered appends to dead-letters.ndjson. */
class DeadLetterFile {
  private fd: number;
  private pending: string[] = [];
  private pendingChars = 0;
  count = 0;
  lastLine = 0n;
  /** Bytes written to the file so far. */
  bytes = 0;

  /** Starts the file empty, or (resuming) cut back to where it stood at a checkpoint. */
  constructor(path: string, at?: DeadLetterPosition) {
    if (at === undefined) {
      this.fd = openSync(path, "w");
      return;
    }
    this.fd = openSync(path, "r+");
    ftruncateSync(this.fd, at.bytes);
    this.bytes = at.bytes;
    this.count = at.count;
    this.lastLine = BigInt(at.lastLine);
  }

  position(): DeadLetterPosition {
    this.flush();
    return { bytes: this.bytes, count: this.count, lastLine: String(this.lastLine) };
  }

  append(batch: Batch): void {
    for (const d of batch.deadLetters) {
      const reason = REASONS[d.reason];
      if (reason === undefined) fail(Code.InvalidArgument, `batch ${batch.meta?.traceId}: dead letter for line ${d.line} has no valid reason (${d.reason})`);
      if (d.line <= this.lastLine) {
        fail(Code.InvalidArgument, `batch ${batch.meta?.traceId}: dead letter for line ${d.line} is not after line ${this.lastLine}`);
      }
      this.lastLine = d.line;
      const s = deadLetterLine({ line: Number(d.line), reason, detail: d.detail });
      this.pending.push(s);
      this.pendingChars += s.length;
      this.count++;
    }
    if (this.pendingChars > 1 << 20) this.flush();
  }

  flush(): void {
    if (this.pending.length === 0) return;
    const b = Buffer.from(this.pending.join(""), "utf8");
    let off = 0;
    while (off < b.length) off += writeSync(this.fd, b, off, b.length - off, this.bytes + off);
    this.bytes += b.length;
    this.pending = [];
    this.pendingChars = 0;
  }

  close(): void {
    this.flush();
    closeSync(this.fd);
  }

  /** Closes without writing what is pending (a superseded attempt must not touch the file). */
  discard(): void {
    this.pending = [];
    closeSync(this.fd);
  }
}

const crash = crashPointFromEnv("sink", ["barrier", "saved", "end"]);

/** The sink's state at a checkpoint: everything it has added up from the batches so far. */
interface SinkState {
  runId: string;
  checkpoint: string;
  lines: string;
  invalid: string;
  dropped: string;
  batches: string;
  latencies: number[];
  deadLetters?: DeadLetterPosition;
}

const snapshotPath = (dir: string, n: bigint) => join(dir, `sink-${n}.json`);

function loadState(header: RunHeader): SinkState {
  const path = snapshotPath(header.checkpointDir, header.resumeCheckpoint);
  let state: SinkState;
  try {
    state = JSON.parse(readFileSync(path, "utf8")) as SinkState;
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code === "ENOENT" ? "not found in" : `unreadable (${(e as Error).message}) in`;
    fail(Code.FailedPrecondition, `checkpoint ${header.resumeCheckpoint} of run ${header.runId} ${why} ${header.checkpointDir}`);
  }
  if (state.runId !== header.runId) fail(Code.FailedPrecondition, `checkpoint ${path} belongs to run ${state.runId}, not ${header.runId}`);
  return state;
}

/** Attempts of a run this process is serving, so a new attempt ends the older one. */
const attempts = new Map<string, { attempt: number; superseded: boolean }>();

/** Serves one SinkService.Process stream. */
export async function* sinkRun(requests: AsyncIterable<StageRequest>, log: Logger): AsyncGenerator<StageResponse> {
  const cpu0 = processFigures().cpuSeconds;
  const iterator = requests[Symbol.asyncIterator]();
  let waitNs = 0n;
  let busyNs = 0n;
  const next = async () => {
    const t0 = process.hrtime.bigint();
    try {
      return await iterator.next();
    } catch (e) {
      // e.g. a message over the size limit: say which stage refused it
      const err = ConnectError.from(e);
      if (err.code === Code.Canceled) throw err;
      throw new ConnectError(`sink: inbound ${err.rawMessage}`, err.code);
    } finally {
      waitNs += process.hrtime.bigint() - t0;
    }
  };

  const first = await next();
  if (first.done) return;
  if (first.value.kind.case !== "header") fail(Code.FailedPrecondition, `the first message must be a RunHeader, got ${first.value.kind.case ?? "an empty message"}`);
  const header: RunHeader = first.value.kind.value;
  if (header.outDir === "") fail(Code.InvalidArgument, "RunHeader.out_dir is empty");
  const runLog = log.child({ correlationId: header.runId });
  try {
    mkdirSync(header.outDir, { recursive: true });
  } catch (e) {
    fail(Code.FailedPrecondition, `cannot create out_dir ${JSON.stringify(header.outDir)}: ${(e as Error).message}`);
  }
  const resumed = header.resumeCheckpoint > 0n ? loadState(header) : undefined;
  const older = attempts.get(header.runId);
  if (older) older.superseded = true;
  const me = { attempt: header.attempt, superseded: false };
  attempts.set(header.runId, me);
  runLog.info(
    `run started: writing to ${header.outDir}${header.passthrough ? " (pass-through)" : ""}` +
      (resumed ? `, attempt ${header.attempt} from checkpoint ${header.resumeCheckpoint}` : ""),
  );

  const deadLetters = header.passthrough ? undefined : new DeadLetterFile(join(header.outDir, "dead-letters.ndjson"), resumed?.deadLetters);
  const latencies: number[] = resumed?.latencies ?? [];
  let lines = BigInt(resumed?.lines ?? 0);
  let invalid = BigInt(resumed?.invalid ?? 0);
  let dropped = BigInt(resumed?.dropped ?? 0);
  let batches = BigInt(resumed?.batches ?? 0);
  let expectTrace = batches + 1n;
  let checkpoint = header.resumeCheckpoint;
  const byType: Group[] = [];
  const byUser: Group[] = [];
  const byTag: Group[] = [];
  const byWindow = new WindowColumnsReader();
  let end: End | undefined;
  let sawResults = false;

  try {
    for (;;) {
      const r = await next();
      if (me.superseded) fail(Code.Aborted, `attempt ${me.attempt} of run ${header.runId} was superseded by a newer attempt`);
      if (r.done) fail(Code.Aborted, "the stream ended before End");
      const t0 = process.hrtime.bigint();
      const kind = r.value.kind;
      if (kind.case === "batch") {
        const b = kind.value;
        const trace = b.meta?.traceId ?? 0n;
        if (sawResults) fail(Code.InvalidArgument, `batch ${trace} arrived after the results`);
        if (trace !== expectTrace) fail(Code.InvalidArgument, `batch ${trace}: expected batch ${expectTrace} (batches must arrive in order)`);
        expectTrace++;
        if (!header.passthrough && b.payload.case !== undefined) fail(Code.InvalidArgument, `batch ${trace}: still carries a ${b.payload.case} payload (aggregate forwards folded batches without one)`);
        batches++;
        lines += b.counters?.lines ?? 0n;
        invalid += b.counters?.invalid ?? 0n;
        dropped += b.counters?.dropped ?? 0n;
        deadLetters?.append(b);
        if (b.meta && b.meta.ingestUnixNs > 0n) latencies.push(Number(unixNanos() - b.meta.ingestUnixNs) / 1e6);
        busyNs += process.hrtime.bigint() - t0;
        yield create(StageResponseSchema, { kind: { case: "ack", value: trace } });
      } else if (kind.case === "resultPart") {
        sawResults = true;
        const p: ResultPart = kind.value;
        if (p.byType.length + p.byUser.length + p.byTag.length + p.byWindow.length > 0) {
          fail(Code.InvalidArgument, "a ResultPart in the row form (by_type … by_window), which is no longer read: the aggregate binary is older than this sink (rebuild with bash scripts/build.d/split.sh)");
        }
        readGroups(p.types, "byType", byType);
        readGroups(p.users, "byUser", byUser);
        readGroups(p.tags, "byTag", byTag);
        byWindow.add(p.windows);
        busyNs += process.hrtime.bigint() - t0;
      } else if (kind.case === "barrier") {
        const n = kind.value.checkpointId;
        maybeCrash(crash, "barrier", n);
        if (header.checkpointDir !== "") {
          const state: SinkState = {
            runId: header.runId,
            checkpoint: String(n),
            lines: String(lines),
            invalid: String(invalid),
            dropped: String(dropped),
            batches: String(batches),
            latencies,
            deadLetters: deadLetters?.position(),
          };
          mkdirSync(header.checkpointDir, { recursive: true });
          writeFileAtomic(snapshotPath(header.checkpointDir, n), JSON.stringify(state));
          pruneSnapshots(header.checkpointDir, "sink-", ".json");
          maybeCrash(crash, "saved", n);
        }
        checkpoint = n;
        busyNs += process.hrtime.bigint() - t0;
        yield create(StageResponseSchema, { kind: { case: "checkpointDone", value: n } });
      } else if (kind.case === "end") {
        end = kind.value;
        break;
      } else {
        fail(Code.InvalidArgument, `unexpected ${kind.case ?? "empty"} message after the header`);
      }
    }
  } catch (e) {
    if (me.superseded) deadLetters?.discard();
    else deadLetters?.close();
    if (attempts.get(header.runId) === me) attempts.delete(header.runId);
    throw e;
  }
  if (attempts.get(header.runId) === me) attempts.delete(header.runId);

  const t0 = process.hrtime.bigint();
  if (end.batches !== batches) fail(Code.DataLoss, `End says ${end.batches} batches were sent, ${batches} arrived`);
  deadLetters?.close();
  const valid = lines - invalid;
  const aggregated = valid - dropped;
  // Until the outputs are written (below: the same clock, read again once results.json is).
  let wallNs = unixNanos() - header.startedUnixNs;
  latencies.sort((a, b) => a - b);
  const batchLatency = create(LatencySummarySchema, {
    p50Ms: percentile(latencies, 50),
    p95Ms: percentile(latencies, 95),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.length ? latencies[latencies.length - 1] : 0,
    samples: BigInt(latencies.length),
  });

  const fig = processFigures();
  const stages = [
    ...end.stages,
    create(StageMetricsSchema, {
      stage: "sink",
      language: "typescript",
      busyNs: busyNs + (process.hrtime.bigint() - t0),
      waitNs,
      batchesIn: batches,
      batchesOut: 0n,
      eventsIn: aggregated,
      eventsOut: 0n,
      cpuSeconds: fig.cpuSeconds - cpu0,
      peakRssBytes: fig.peakRssBytes,
      pid: process.pid,
    }),
  ];
  const stageJson = stages.map((s) => ({
    stage: s.stage,
    language: s.language,
    pid: s.pid,
    busySeconds: Number(s.busyNs) / 1e9,
    waitSeconds: Number(s.waitNs) / 1e9,
    batchesIn: Number(s.batchesIn),
    batchesOut: Number(s.batchesOut),
    eventsIn: Number(s.eventsIn),
    eventsOut: Number(s.eventsOut),
    cpuSeconds: s.cpuSeconds,
    peakRssBytes: Number(s.peakRssBytes),
  }));
  const extra = {
    runId: header.runId,
    passthrough: header.passthrough,
    batches: Number(batches),
    batchSize: header.batchSize,
    dropped: Number(dropped),
    aggregated: Number(aggregated),
    batchLatencyMs: { p50: batchLatency.p50Ms, p95: batchLatency.p95Ms, p99: batchLatency.p99Ms, max: batchLatency.maxMs, samples: latencies.length },
    cpuSeconds: stageJson.reduce((a, s) => a + s.cpuSeconds, 0),
    // The split is five processes: its footprint is their sum; each one's is in `stages`.
    peakRssBytes: stageJson.reduce((a, s) => a + s.peakRssBytes, 0),
    stages: stageJson,
  };

  let checksum = "";
  if (header.passthrough) {
    writeFileSync(
      join(header.outDir, "metrics.json"),
      JSON.stringify({ mode: "split-passthrough", events: Number(lines), wallSeconds: Number(wallNs) / 1e9, eventsPerSecond: Number(lines) / (Number(wallNs) / 1e9), bytes: Number(end.inputBytes), ...extra }, null, 2) + "\n",
    );
  } else {
    const typeTotal = byType.reduce((a, g) => a + BigInt(g.count), 0n);
    if (typeTotal !== aggregated) {
      fail(Code.DataLoss, `the byType groups count ${typeTotal} events but the counters say ${aggregated} were aggregated (lines ${lines}, invalid ${invalid}, dropped ${dropped})`);
    }
    const parts = resultsParts({
      lines: Number(lines),
      valid: Number(valid),
      invalid: Number(invalid),
      dropped: Number(dropped),
      aggregated: Number(aggregated),
      byType,
      byUser,
      byTag,
      byWindow: [],
      byWindowJson: byWindow.json(),
    });
    const outcome = writeOutputs(header.outDir, parts, {
      mode: "split",
      lines: Number(lines),
      valid: Number(valid),
      invalid: Number(invalid),
      bytes: Number(end.inputBytes),
      wallNs: () => (wallNs = unixNanos() - header.startedUnixNs),
      extra,
    });
    checksum = outcome.checksum;
  }
  runLog.info(`run complete: ${lines} lines, ${invalid} invalid, ${dropped} dropped${checksum ? `, checksum ${checksum}` : ""}`, {
    wallSeconds: Number(wallNs) / 1e9,
    attempt: header.attempt,
  });
  maybeCrash(crash, "end", 0n);
  yield create(StageResponseSchema, {
    kind: {
      case: "complete",
      value: create(RunCompleteSchema, {
        runId: header.runId,
        checksum,
        lines,
        valid,
        invalid,
        dropped,
        aggregated,
        batches,
        batchLatency,
        stages,
        wallSeconds: Number(wallNs) / 1e9,
        attempts: Math.max(1, header.attempt),
        checkpoints: checkpoint,
      }),
    },
  });
}
