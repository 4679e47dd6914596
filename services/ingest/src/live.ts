// The live run: a run without a file, fed by Publish calls (the load generator's way onto the
// pipeline). It starts with the first Publish, numbers lines and bytes continuously across
// calls, turns each call into one batch, and ends after `idleMs` without a Publish (or when a
// call asks for it), writing its results into `<liveDir>/<run id>/` like any run.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type Client } from "@connectrpc/connect";
import { frameBuffer } from "@modular-runtime/pipeline/line-reader";
import { PublishResponseSchema, type PublishRequest, type PublishResponse, type RunComplete } from "@modular-runtime/proto/pipeline/v1/pipeline";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { lookupAddress, newCorrelationId, unixNanos, type Logger } from "@modular-runtime/service-kit";
import { join } from "node:path";
import { Batcher } from "./batcher.js";
import { ChainStream, RunEndedError } from "./chain.js";

export const MAX_PUBLISH_BYTES = 4 * 1024 * 1024;

export interface LiveDeps {
  topology: Client<typeof TopologyService>;
  log: Logger;
  downstream: string;
  /** Where live runs write their results (one directory per run). */
  liveDir: string;
  /** A live run ends after this long without a Publish. */
  idleMs: number;
  recordCall?: (target: string, method: string, latencyMs: number, ok: boolean, items: number, error?: string) => void;
  lookupTimeoutMs?: number;
}

interface Session {
  runId: string;
  chain: ChainStream;
  batcher: Batcher;
  lines: number;
  bytes: number;
  idle?: ReturnType<typeof setTimeout>;
  /** Publishes go out one after another, in call order. */
  tail: Promise<unknown>;
  ending?: Promise<RunComplete>;
}

export class LiveRuns {
  private session?: Session;
  private opening?: Promise<Session>;

  constructor(private readonly deps: LiveDeps) {}

  async publish(req: PublishRequest): Promise<PublishResponse> {
    if (req.lines.length > MAX_PUBLISH_BYTES) {
      throw new ConnectError(`ingest: Publish takes at most ${MAX_PUBLISH_BYTES} bytes of lines, got ${req.lines.length}`, Code.InvalidArgument);
    }
    const s = await this.current();
    const turn = s.tail.then(() => this.enqueue(s, req));
    s.tail = turn.catch(() => undefined);
    let sent;
    try {
      sent = await turn;
    } catch (e) {
      // The run ended (idle or end_run) while this call waited its turn: it joins the next one.
      if (e instanceof RunEndedError) return this.publish(req);
      throw e;
    }
    await sent.acked;
    if (req.endRun) sent.res.complete = await this.end(s);
    return sent.res;
  }

  /** Ends the live run now, if there is one (e.g. on shutdown). */
  async close(): Promise<void> {
    const s = this.session;
    if (s) await this.end(s).catch(() => undefined);
  }

  private async current(): Promise<Session> {
    if (this.session && !this.session.ending && !this.session.chain.failed) return this.session;
    if (this.session?.ending) await this.session.ending.catch(() => undefined);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private async open(): Promise<Session> {
    const { deps } = this;
    const address = await lookupAddress(deps.topology, "ingest", deps.downstream, { timeoutMs: deps.lookupTimeoutMs });
    const runId = `live-${newCorrelationId()}`;
    const outDir = join(deps.liveDir, runId);
    const batcher = new Batcher({ batchSize: MAX_PUBLISH_BYTES, maxBytes: MAX_PUBLISH_BYTES + 1, maxWaitMs: Number.POSITIVE_INFINITY });
    const chain = new ChainStream(
      {
        address,
        downstream: deps.downstream,
        window: 8,
        recordCall: deps.recordCall,
        // a batch per call: without reuse every call would take a fresh 5 MiB buffer
        onBatchWritten: (b) => batcher.recycle(b),
      },
      { runId, rulesJson: "", outDir, inputPath: "(published)", startedUnixNs: unixNanos() },
    );
    deps.log.child({ correlationId: runId }).info(`live run started: results go to ${outDir}`, { downstream: `${deps.downstream}@${address}` });
    const s: Session = {
      runId,
      chain,
      batcher,
      lines: 0,
      bytes: 0,
      tail: Promise.resolve(),
    };
    this.session = s;
    return s;
  }

  /** Frames the lines into one batch and sends it (in call order); returns before the ack. */
  private async enqueue(s: Session, req: PublishRequest): Promise<{ res: PublishResponse; acked: Promise<void> }> {
    if (s.chain.failed) throw s.chain.failed;
    if (s.ending) throw new RunEndedError();
    const buf = Buffer.from(req.lines.buffer, req.lines.byteOffset, req.lines.length);
    const res = create(PublishResponseSchema, { runId: s.runId });
    let acked = Promise.resolve();
    if (buf.length > 0) {
      const baseLine = s.lines;
      const baseByte = s.bytes;
      const physical = frameBuffer(buf, {
        line: (b, start, end, lineNo, offset) => s.batcher.line(b, start, end, baseLine + lineNo, baseByte + offset),
        oversize: (lineNo) => s.batcher.oversize(baseLine + lineNo),
      });
      s.lines += physical;
      s.bytes += buf.length;
      s.batcher.finish(s.bytes, s.lines);
      res.firstLine = BigInt(baseLine + 1);
      res.lines = BigInt(physical);
      // One batch per call: a call's bytes never reach the batcher's size limit.
      for (const batch of s.batcher.ready.splice(0)) {
        res.traceId = batch.meta!.traceId as bigint;
        acked = (await s.chain.send(batch)).acked;
      }
    }
    if (!req.endRun) {
      if (s.idle) clearTimeout(s.idle);
      s.idle = setTimeout(() => void this.end(s).catch(() => undefined), this.deps.idleMs);
    }
    return { res, acked };
  }

  private end(s: Session): Promise<RunComplete> {
    if (s.idle) clearTimeout(s.idle);
    s.ending ??= (async () => {
      const log = this.deps.log.child({ correlationId: s.runId });
      try {
        const c = await s.chain.end({ physicalLines: s.lines, inputBytes: s.bytes, eventsIn: s.lines, busyNs: 0n });
        log.info(`live run complete: ${c.lines} lines, checksum ${c.checksum}`);
        return c;
      } catch (e) {
        log.error(`live run failed: ${ConnectError.from(e).message}`);
        throw e;
      } finally {
        if (this.session === s) this.session = undefined;
      }
    })();
    return s.ending;
  }
}
