// One run of the split pipeline as ingest drives it (services/PIPELINE.md): check the request,
// find parse, open its Process stream, send the header, frame the file into batches under a
// credit window, send End, and wait for the RunComplete that comes back up the chain.

import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { frameFileSteps } from "@modular-runtime/pipeline/line-reader";
import {
  ParseService,
  RunProgressSchema,
  type RunComplete,
  type RunProgress,
  type RunRequest,
  type StageRequestSchema,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { AsyncQueue, CreditWindow, lookupAddress, newCorrelationId, processFigures, type Logger } from "@modular-runtime/service-kit";
import { accessSync, constants, statSync } from "node:fs";
import { isAbsolute } from "node:path";
import { Batcher } from "./batcher.js";

type StageRequestInit = MessageInitShape<typeof StageRequestSchema>;

export const DEFAULTS = { batchSize: 10_000, window: 8, maxWaitMs: 50 };
export const LIMITS = { batchSize: 1_000_000, window: 1024, maxWaitMs: 60_000 };
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const PARSE_METHOD = "pipeline.v1.ParseService/Process";

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

const unixNs = () => BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));

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
  const startedUnixNs = unixNs();
  const cpu0 = processFigures().cpuSeconds;
  const progress = (fields: { linesRead: bigint; bytesRead: bigint; batchesAcked: bigint; complete?: RunComplete }) =>
    create(RunProgressSchema, { runId, inputBytes: BigInt(settings.inputBytes), ...fields });

  const address = await lookupAddress(deps.topology, "ingest", deps.downstream, { signal, timeoutMs: deps.lookupTimeoutMs });
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  signal.addEventListener("abort", onAbort, { once: true });
  log.info(`run started: ${req.inputPath} → ${req.outDir}`, {
    downstream: `${deps.downstream}@${address}`,
    batchSize: settings.batchSize,
    window: settings.window,
    passthrough: req.passthrough,
  });

  const parse = createClient(
    ParseService,
    createGrpcTransport({ baseUrl: `http://${address}`, readMaxBytes: MAX_MESSAGE_BYTES, writeMaxBytes: MAX_MESSAGE_BYTES }),
  );
  const queue = new AsyncQueue<StageRequestInit>();
  const window = new CreditWindow(settings.window);
  const sentAt = new Map<bigint, { t: number; events: number }>();
  let acked = 0n;
  let complete: RunComplete | undefined;
  let failure: ConnectError | undefined;

  queue.push({
    kind: {
      case: "header",
      value: {
        runId,
        rulesJson: req.rulesJson,
        partitions: req.partitions,
        outDir: req.outDir,
        inputPath: req.inputPath,
        batchSize: settings.batchSize,
        passthrough: req.passthrough,
        startedUnixNs,
      },
    },
  });
  const reader = (async () => {
    try {
      for await (const res of parse.process(queue, { signal: abort.signal })) {
        if (res.kind.case === "ack") {
          const sent = sentAt.get(res.kind.value);
          if (sent) {
            sentAt.delete(res.kind.value);
            deps.recordCall?.(deps.downstream, PARSE_METHOD, performance.now() - sent.t, true, sent.events);
          }
          acked++;
          window.release();
        } else if (res.kind.case === "complete") {
          complete = res.kind.value;
        }
      }
      if (complete === undefined) throw new ConnectError(`${deps.downstream} closed the stream without a RunComplete`, Code.Internal);
    } catch (e) {
      const err = ConnectError.from(e);
      failure = signal.aborted
        ? new ConnectError("ingest: run cancelled", Code.Canceled)
        : new ConnectError(`ingest: ${deps.downstream} failed: ${err.rawMessage}`, err.code);
      deps.recordCall?.(deps.downstream, PARSE_METHOD, 0, false, 0, err.rawMessage);
      window.close(failure);
      queue.end();
    }
  })();

  const batcher = new Batcher({ batchSize: settings.batchSize, maxWaitMs: settings.maxWaitMs });
  let bytesRead = 0;
  let linesRead = 0;
  let busyNs = 0n;
  let eventsSent = 0n;
  let lastProgress = performance.now();
  const interval = deps.progressIntervalMs ?? 1000;
  const send = async () => {
    for (const batch of batcher.ready.splice(0)) {
      await window.acquire();
      batch.meta!.ingestUnixNs = unixNs();
      const raw = batch.payload?.case === "raw" ? batch.payload.value : undefined;
      const events = raw?.lineNumbers ? raw.lineNumbers.length / 8 : 0;
      sentAt.set(batch.meta!.traceId as bigint, { t: performance.now(), events });
      eventsSent += BigInt(events);
      queue.push({ kind: { case: "batch", value: batch } });
    }
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
        yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: acked });
      }
      if (step.done) break;
    }
    const fig = processFigures();
    queue.push({
      kind: {
        case: "end",
        value: {
          batches: BigInt(batcher.batches),
          physicalLines: BigInt(physicalLines),
          inputBytes: BigInt(bytesRead),
          stages: [{
            stage: "ingest",
            language: "typescript",
            busyNs,
            waitNs: window.waitNs,
            batchesIn: 0n,
            batchesOut: BigInt(batcher.batches),
            eventsIn: BigInt(linesRead),
            eventsOut: eventsSent,
            cpuSeconds: fig.cpuSeconds - cpu0,
            peakRssBytes: fig.peakRssBytes,
            pid: process.pid,
          }],
        },
      },
    });
    queue.end();
    while (complete === undefined && failure === undefined) {
      const tick = new Promise((r) => setTimeout(r, interval));
      await Promise.race([reader, tick]);
      if (complete === undefined && failure === undefined) {
        yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: acked });
      }
    }
    await reader;
    if (failure) throw failure;
    log.info(`run complete: ${complete!.lines} lines, checksum ${complete!.checksum || "(pass-through)"}`, {
      wallSeconds: complete!.wallSeconds,
    });
    yield progress({ linesRead: BigInt(linesRead), bytesRead: BigInt(bytesRead), batchesAcked: acked, complete });
  } catch (e) {
    const err = failure ?? ConnectError.from(e);
    log.error(`run failed: ${err.message}`);
    abort.abort();
    throw err;
  } finally {
    signal.removeEventListener("abort", onAbort);
    queue.end();
  }
}
