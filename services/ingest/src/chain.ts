// One run's stream from ingest to parse: the header goes first, batches go under a credit
// window (at most `window` unacknowledged), each send resolves when parse acknowledges that
// batch, and `end` resolves with the RunComplete that comes back up the chain. A failure of the
// stream rejects every pending send and the end, with a message naming both stages.

import { create, fromBinary, toBinary, type MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  BatchSchema,
  SharedSliceSchema,
  type RunComplete,
  type RunHeaderSchema,
  StageRequestSchema,
  StageResponseSchema,
} from "@modular-runtime/proto/pipeline/v1/pipeline";
import { CreditWindow, processFigures, unixNanos } from "@modular-runtime/service-kit";
import type { BatchInit } from "./batcher.js";
import { GrpcBidiStream, grpcPrefix } from "./grpc-stream.js";
import type { ShmRing } from "./shm-ring.js";

type StageRequestInit = MessageInitShape<typeof StageRequestSchema>;

const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
export const PARSE_METHOD = "pipeline.v1.ParseService/Process";

function varintLength(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

function putVarint(buf: Uint8Array, at: number, n: number): number {
  while (n >= 0x80) {
    buf[at++] = (n & 0x7f) | 0x80;
    n = Math.floor(n / 128);
  }
  buf[at++] = n;
  return at;
}

// Wire tags: StageRequest.batch (2), Batch.raw (4), RawLines.data (1), RawLines.line_numbers (2),
// RawLines.shared (3), each length-delimited.
const TAG_STAGE_BATCH = (2 << 3) | 2;
const TAG_BATCH_RAW = (4 << 3) | 2;
const TAG_RAW_DATA = (1 << 3) | 2;
const TAG_RAW_LINE_NUMBERS = (2 << 3) | 2;
const TAG_RAW_SHARED = (3 << 3) | 2;

/**
 * `StageRequest{batch}` as gRPC message parts: one small buffer with the prefix and every field
 * but the line data, then the line data and line numbers as they are. The bytes are exactly
 * protobuf-es's encoding of the same message (fields in number order), without the copies.
 */
export function encodeBatchRequest(batch: BatchInit): Uint8Array[] {
  const raw = batch.payload?.case === "raw" ? batch.payload.value : undefined;
  if (raw === undefined || batch.payload?.case !== "raw") {
    const msg = toBinary(StageRequestSchema, create(StageRequestSchema, { kind: { case: "batch", value: batch } }));
    return [grpcPrefix(msg.length), msg];
  }
  const head = toBinary(BatchSchema, create(BatchSchema, { meta: batch.meta, counters: batch.counters, deadLetters: batch.deadLetters }));
  const data = raw.data ?? new Uint8Array(0);
  const lineNumbers = raw.lineNumbers ?? new Uint8Array(0);
  const shared = raw.shared ? toBinary(SharedSliceSchema, create(SharedSliceSchema, raw.shared)) : undefined;
  // proto3 leaves empty bytes fields out
  const dataField = data.length > 0 ? 1 + varintLength(data.length) + data.length : 0;
  const numbersField = lineNumbers.length > 0 ? 1 + varintLength(lineNumbers.length) + lineNumbers.length : 0;
  const sharedField = shared ? 1 + varintLength(shared.length) + shared.length : 0;
  const rawLen = dataField + numbersField + sharedField;
  const batchLen = head.length + 1 + varintLength(rawLen) + rawLen;
  const total = 1 + varintLength(batchLen) + batchLen;
  const prefix = new Uint8Array(5 + 1 + varintLength(batchLen) + head.length + 1 + varintLength(rawLen) + (dataField > 0 ? 1 + varintLength(data.length) : 0));
  grpcPrefix(total, prefix);
  let at = 5;
  prefix[at++] = TAG_STAGE_BATCH;
  at = putVarint(prefix, at, batchLen);
  prefix.set(head, at);
  at += head.length;
  prefix[at++] = TAG_BATCH_RAW;
  at = putVarint(prefix, at, rawLen);
  const parts: Uint8Array[] = [prefix];
  if (dataField > 0) {
    prefix[at++] = TAG_RAW_DATA;
    at = putVarint(prefix, at, data.length);
    parts.push(data);
  }
  if (numbersField > 0) parts.push(fieldHead(TAG_RAW_LINE_NUMBERS, lineNumbers.length), lineNumbers);
  if (shared) parts.push(fieldHead(TAG_RAW_SHARED, shared.length), shared);
  return parts;
}

/** The tag and length of a length-delimited field of `length` bytes (its head on the wire). */
function fieldHead(tag: number, length: number): Uint8Array {
  const head = new Uint8Array(1 + varintLength(length));
  head[0] = tag;
  putVarint(head, 1, length);
  return head;
}

function encodeRequest(init: StageRequestInit): Uint8Array[] {
  const msg = toBinary(StageRequestSchema, create(StageRequestSchema, init));
  return [grpcPrefix(msg.length), msg];
}

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
  /** A batch's bytes have gone to the socket (or into the ring): its buffers may be reused. */
  onBatchWritten?: (batch: BatchInit) => void;
  /**
   * Shared memory for the line data (RawLines.shared): a batch that finds a free slot goes
   * there, the rest inline. The stream owns the ring from here on and closes it when it ends.
   */
  ring?: ShmRing;
}

interface Pending {
  t: number;
  events: number;
  /** The ring slot holding the batch's lines, if they went through shared memory. */
  slot?: number;
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
  private readonly call: GrpcBidiStream;
  private readonly window: CreditWindow;
  private cancelled = false;
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
  /** Batches whose lines went through shared memory (the others went inline). */
  sharedBatches = 0;

  constructor(private readonly opts: ChainOptions, header: MessageInitShape<typeof RunHeaderSchema>) {
    this.window = new CreditWindow(opts.window);
    this.call = new GrpcBidiStream({ address: opts.address, path: `/${PARSE_METHOD}`, readMaxBytes: MAX_MESSAGE_BYTES });
    this.call.write(encodeRequest({ kind: { case: "header", value: header } }));
    this.done = this.read();
  }

  /** Resolves once the connection to parse is up (or has failed: see `failed`). */
  connected(): Promise<void> {
    return this.call.connected();
  }

  /** The stream's failure, once it failed. */
  get failed(): ConnectError | undefined {
    return this.failure;
  }

  private async read() {
    const d = this.opts.downstream;
    try {
      for await (const bytes of this.call.responses()) {
        const res = fromBinary(StageResponseSchema, bytes);
        if (res.kind.case === "ack") {
          const p = this.pending.get(res.kind.value);
          if (p) {
            this.pending.delete(res.kind.value);
            if (p.slot !== undefined) {
              // parse has mapped the file (it read this batch from it): its name can go
              this.opts.ring?.unlink();
              this.opts.ring?.release(p.slot);
            }
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
      this.failure = this.cancelled
        ? new ConnectError("ingest: run cancelled", Code.Canceled)
        : new ConnectError(`ingest: ${d} failed: ${err.rawMessage}`, err.code);
      this.opts.recordCall?.(d, PARSE_METHOD, 0, false, 0, err.rawMessage);
      this.window.close(this.failure);
      for (const p of this.pending.values()) p.reject(this.failure);
      this.pending.clear();
      this.call.cancel();
    } finally {
      this.opts.ring?.close();
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
    const place = raw?.data && this.opts.ring ? this.opts.ring.place(raw.data) : undefined;
    const acked = new Promise<void>((resolve, reject) => {
      this.pending.set(batch.meta!.traceId as bigint, { t: performance.now(), events, slot: place?.slot, resolve, reject });
    });
    acked.catch(() => undefined); // callers that do not wait for the ack must not see an unhandled rejection
    const written = this.opts.onBatchWritten;
    if (place) {
      const shared = { path: this.opts.ring!.path, offset: BigInt(place.offset), length: BigInt(place.length) };
      const ref: BatchInit = {
        meta: batch.meta,
        counters: batch.counters,
        deadLetters: batch.deadLetters,
        payload: { case: "raw", value: { lineNumbers: raw!.lineNumbers, shared } },
      };
      this.call.write(encodeBatchRequest(ref));
      this.sharedBatches++;
      written?.(batch); // the lines are in the ring already
    } else {
      this.call.write(encodeBatchRequest(batch), written && (() => written(batch)));
    }
    this.sent++;
    this.eventsSent += BigInt(events);
    return { acked };
  }

  /** Sends Barrier N after the batches sent so far (it takes no credit). */
  barrier(n: bigint): void {
    if (this.failure) throw this.failure;
    this.call.write(encodeRequest({ kind: { case: "barrier", value: { checkpointId: n } } }));
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
    this.call.write(encodeRequest({
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
    }));
    this.call.end();
    await this.done;
    if (this.failure) throw this.failure;
    return this.complete!;
  }

  cancel(): void {
    this.cancelled = true;
    this.call.cancel();
    this.opts.ring?.close();
  }
}
