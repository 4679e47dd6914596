// One run of the split pipeline as ingest drives it (services/PIPELINE.md): check the request,
// find parse, open its Process stream, send the header, frame the file into batches under a
// credit window, send End, and wait for the RunComplete that comes back up the chain.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { frameFileSteps } from "@modular-runtime/pipeline/line-reader";
import { RunProgressSchema, type RunComplete, type RunProgress, type RunRequest } from "@modular-runtime/proto/pipeline/v1/pipeline";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { lookupAddress, newCorrelationId, unixNanos, type Logger } from "@modular-runtime/service-kit";
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { Batcher } from "./batcher.js";
import { ChainStream } from "./chain.js";

export const DEFAULTS = { batchSize: 10_000, window: 8, maxWaitMs: 50 };
export const LIMITS = { batchSize: 1_000_000, window: 1024, maxWaitMs: 60_000 };

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
}

function invalid(message: string): ConnectError {
  return new ConnectError(`ingest: ${message}`, Code.InvalidArgument);
}

function checked(name: string, value: number, fallback: number, max: number): number {
  if (value === 0) return fallback;
  if (value > max) throw invalid(`${name} must be between 1 and ${max}, got ${value}`);
  return value;
}

/** Validates a RunRequest; returns the settings with defaults filled in. */
export function checkRequest(req: RunRequest) {
  if (req.inputPath === "") throw invalid("input_path is required");
  if (!isAbsolute(req.inputPath)) throw invalid(`input_path must be absolute, got ${JSON.stringify(req.inputPath)}`);
  if (req.outDir === "") throw invalid("out_dir is required");
  if (!isAbsolute(req.outDir)) throw invalid(`out_dir must be absolute, got ${JSON.stringify(req.outDir)}`);
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
  };
}

/** Runs the file through the chain, yielding progress about once a second and the completion last. */
export async function* runIngest(req: RunRequest, deps: IngestDeps, signal: AbortSignal): AsyncGenerator<RunProgress> {
  const settings = checkRequest(req);
  const runId = newCorrelationId();
  const log = deps.log.child({ correlationId: runId });
  const startedUnixNs = unixNanos();
  const progress = (fields: { linesRead: bigint; bytesRead: bigint; batchesAcked: bigint; complete?: RunComplete }) =>
    create(RunProgressSchema, { runId, inputBytes: BigInt(settings.inputBytes), ...fields });

  const address = await lookupAddress(deps.topology, "ingest", deps.downstream, { signal, timeoutMs: deps.lookupTimeoutMs });
  log.info(`run started: ${req.inputPath} → ${req.outDir}`, {
    downstream: `${deps.downstream}@${address}`,
    batchSize: settings.batchSize,
    window: settings.window,
    passthrough: req.passthrough,
  });
  const chain = new ChainStream(
    { address, downstream: deps.downstream, window: settings.window, recordCall: deps.recordCall },
    {
      runId,
      rulesJson: req.rulesJson,
      partitions: req.partitions,
      outDir: req.outDir,
      inputPath: req.inputPath,
      batchSize: settings.batchSize,
      passthrough: req.passthrough,
      startedUnixNs,
    },
  );
  const onAbort = () => chain.cancel();
  signal.addEventListener("abort", onAbort, { once: true });

  const batcher = new Batcher({ batchSize: settings.batchSize, maxWaitMs: settings.maxWaitMs });
  let bytesRead = 0;
  let linesRead = 0;
  let busyNs = 0n;
  let lastProgress = performance.now();
  const interval = deps.progressIntervalMs ?? 1000;
  const send = async () => {
    for (const batch of batcher.ready.splice(0)) await chain.send(batch);
  };

  try {
    const steps = frameFileSteps(req.inputPath, {
      line(buf, s, e, lineNo, offset) {
        linesRead = lineNo;
        batcher.line(buf, s, e, lineNo, offset);
      },
      oversize(lineNo) {
        linesRead = lineNo;
        batcher.oversize(lineNo);
      },
      chunkDone: () => batcher.chunkDone(),
    }, (n) => (bytesRead += n));
    let physicalLines = 0;
    for (;;) {
      const t0 = process.hrtime.bigint();
      const step = steps.next();
      if (step.done) {
        physicalLines = step.value;
        batcher.finish(bytesRead, physicalLines);
      } else batcher.expire();
      busyNs += process.hrtime.bigint() - t0;
      await send();
      if (performance.now() - lastProgress >= interval) {
        lastProgress = performance.now();
        yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: chain.acked });
      }
      if (step.done) break;
    }
    const ended = chain.end({ physicalLines, inputBytes: bytesRead, eventsIn: linesRead, busyNs });
    // Progress keeps coming while the chain drains; a failure surfaces from `await ended`.
    let finished = false;
    const settled = ended.then(() => (finished = true), () => (finished = true));
    while (!finished) {
      await Promise.race([settled, new Promise((r) => setTimeout(r, interval))]);
      if (!finished) yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: chain.acked });
    }
    const c = await ended;
    log.info(`run complete: ${c.lines} lines, checksum ${c.checksum || "(pass-through)"}`, { wallSeconds: c.wallSeconds });
    yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: chain.acked, complete: c });
  } catch (e) {
    const err = chain.failed ?? ConnectError.from(e);
    log.error(`run failed: ${err.message}`);
    chain.cancel();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
  }
}
