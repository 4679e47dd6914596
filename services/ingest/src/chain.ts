// One run's stream from ingest to parse: the header goes first, batches go under a credit
// window (at most `window` unacknowledged), each send resolves when parse acknowledges that
// batch, and `end` resolves with the RunComplete that comes back up the chain. A failure of the
// stream rejects every pending send and the end, with a message naming both stages.

import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ParseService,
  type RunComplete,
  type RunHeaderSchema,
  type StageRequestSchema,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import { AsyncQueue, CreditWindow, processFigures, unixNanos } from "@modular-runtime/service-kit";
import type { BatchInit } from "./batcher.js";

type StageRequestInit = MessageInitShape<typeof StageRequestSchema>;

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const PARSE_METHOD = "pipeline.v1.ParseService/Process";

export interface ChainOptions {
  /** host:port of the downstream stage. */
  address: string;
  /** Its name, for messages and activity. */
  downstream: string;
  window: number;
  /** Called for every acknowledged (or failed) batch, for the topology's activity report. */
  recordCall?: (target: string, method: string, latencyMs: number, ok: boolean, items: number, error?: string) => void;
  /** The sink has saved checkpoint N (checkpointed runs). */
  onCheckpointDone?: (n: bigint) => void;
}

interface Pending {
  t: number;
  events: number;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A send after End: the batch was not sent (a live run ending while a Publish waited). */
export class RunEndedError extends ConnectError {
  constructor() {
    super("ingest: the run already ended", Code.Aborted);
  }
}

export class ChainStream {
  private readonly queue = new AsyncQueue<StageRequestInit>();
  private readonly window: CreditWindow;
  private readonly abort = new AbortController();
  private readonly pending = new Map<bigint, Pending>();
  private complete?: RunComplete;
  private failure?: ConnectError;
  private ended = false;
  private readonly done: Promise<void>;
  private readonly cpu0 = processFigures().cpuSeconds;
  acked = 0n;
  /** Lines in the batches parse has acknowledged. */
  linesAcked = 0n;
  /** Batches handed to the stream so far, and the events (lines) they carried. */
  sent = 0n;
  private eventsSent = 0n;

  constructor(private readonly opts: ChainOptions, header: MessageInitShape<typeof RunHeaderSchema>) {
    this.window = new CreditWindow(opts.window);
    const parse = createClient(
      ParseService,
      createGrpcTransport({ baseUrl: `http://${opts.address}`, readMaxBytes: MAX_MESSAGE_BYTES, writeMaxBytes: MAX_MESSAGE_BYTES }),
    );
    this.queue.push({ kind: { case: "header", value: header } });
    this.done = this.read(parse.process(this.queue, { signal: this.abort.signal }));
  }

  /** The stream's failure, once it failed. */
  get failed(): ConnectError | undefined {
    return this.failure;
  }

  private async read(
    responses: AsyncIterable<{
      kind: { case: "ack"; value: bigint } | { case: "complete"; value: RunComplete } | { case: "checkpointDone"; value: bigint } | { case: undefined };
    }>,
  ) {
    const d = this.opts.downstream;
    try {
      for await (const res of responses) {
        if (res.kind.case === "ack") {
          const p = this.pending.get(res.kind.value);
          if (p) {
            this.pending.delete(res.kind.value);
            this.opts.recordCall?.(d, PARSE_METHOD, performance.now() - p.t, true, p.events);
            this.linesAcked += BigInt(p.events);
            p.resolve();
          }
          this.acked++;
          this.window.release();
        } else if (res.kind.case === "checkpointDone") {
          this.opts.onCheckpointDone?.(res.kind.value);
        } else if (res.kind.case === "complete") {
          this.complete = res.kind.value;
        }
      }
      if (this.complete === undefined) throw new ConnectError(`${d} closed the stream without a RunComplete`, Code.Internal);
    } catch (e) {
      const err = ConnectError.from(e);
      this.failure = this.abort.signal.aborted
        ? new ConnectError("ingest: run cancelled", Code.Canceled)
        : new ConnectError(`ingest: ${d} failed: ${err.rawMessage}`, err.code);
      this.opts.recordCall?.(d, PARSE_METHOD, 0, false, 0, err.rawMessage);
      this.window.close(this.failure);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
      this.queue.end();
    }
  }

  /**
   * Waits for a send credit, then sends the batch (stamping its send time). Resolves with a
   * promise that settles when parse acknowledges the batch.
   */
  async send(batch: BatchInit): Promise<{ acked: Promise<void> }> {
    if (this.ended) throw new RunEndedError();
    await this.window.acquire();
    if (this.failure) throw this.failure;
    if (this.ended) {
      this.window.release();
      throw new RunEndedError();
    }
    batch.meta!.ingestUnixNs = unixNanos();
    const raw = batch.payload?.case === "raw" ? batch.payload.value : undefined;
    const events = raw?.lineNumbers ? raw.lineNumbers.length / 8 : 0;
    const acked = new Promise<void>((resolve, reject) => {
      this.pending.set(batch.meta!.traceId as bigint, { t: performance.now(), events, resolve, reject });
    });
    acked.catch(() => undefined); // callers that do not wait for the ack must not see an unhandled rejection
    this.queue.push({ kind: { case: "batch", value: batch } });
    this.sent++;
    this.eventsSent += BigInt(events);
    return { acked };
  }

  /** Sends Barrier N after the batches sent so far (it takes no credit). */
  barrier(n: bigint): void {
    if (this.failure) throw this.failure;
    this.queue.push({ kind: { case: "barrier", value: { checkpointId: n } } });
  }

  /**
   * Sends End, with ingest's StageMetrics for the run, and resolves with the RunComplete once it
   * is back up the chain. `busyNs` is the time spent framing; `eventsIn` the lines read;
   * `batches` the run's batches across attempts (default: those this stream sent).
   */
  async end(input: { physicalLines: number; inputBytes: number; eventsIn: number; busyNs: bigint; batches?: bigint }): Promise<RunComplete> {
    if (this.failure) throw this.failure;
    this.ended = true;
    const fig = processFigures();
    this.queue.push({
      kind: {
        case: "end",
        value: {
          // what was sent: a batch cut while a live run ended never went out
          batches: input.batches ?? this.sent,
          physicalLines: BigInt(input.physicalLines),
          inputBytes: BigInt(input.inputBytes),
          stages: [{
            stage: "ingest",
            language: "typescript",
            busyNs: input.busyNs,
            waitNs: this.window.waitNs,
            batchesOut: this.sent,
            eventsIn: BigInt(input.eventsIn),
            eventsOut: this.eventsSent,
            cpuSeconds: fig.cpuSeconds - this.cpu0,
            peakRssBytes: fig.peakRssBytes,
            pid: process.pid,
          }],
        },
      },
    });
    this.queue.end();
    await this.done;
    if (this.failure) throw this.failure;
    return this.complete!;
  }

  cancel(): void {
    this.abort.abort();
    this.queue.end();
  }
}
