// The fault proxy: an h2c (HTTP/2 cleartext) pass-through the control server puts in front of
// one instance of a `faultProxy: true` process. LookupService hands out its address, so the
// network faults (DELAY, PACKET_LOSS, ERROR_INJECT) act here and the service's code is not
// touched. With no fault active it only forwards: every stream, full duplex, headers, body and
// trailers (gRPC's grpc-status lives in trailers), with large flow-control windows so it is not
// the bottleneck of the split pipeline's bidi streams.
//
// Fault semantics (what the caller sees):
// - DELAY: a new stream's headers, and every inbound DATA chunk of every stream (also streams
//   opened before the fault), are held `delay_ms` + uniform [0, jitter_ms) before they are
//   passed on, in order. Responses are not delayed. `affected` counts streams delayed.
// - PACKET_LOSS: a new stream is lost with probability loss_percent/100. A stream already open
//   is rolled at its first chunk after the fault appears, then at most once a second while data
//   flows on it (either direction), so long-lived bidi streams are hit too. A lost stream never
//   reaches the service (or, if open, its service side is cancelled) and the caller gets
//   UNAVAILABLE "chaos: stream reset (packet loss, fault <id>)" in its own protocol (gRPC
//   status, Connect error); other HTTP/2 traffic gets RST_STREAM(REFUSED_STREAM). Not a bare
//   RST for RPCs: connect-node (the TS stages' client) reports that as INTERNAL, not
//   UNAVAILABLE. `affected` counts streams lost.
// - ERROR_INJECT: a new stream is answered by the proxy itself with probability error_rate,
//   never reaching the service: gRPC gets a trailers-only UNAVAILABLE, Connect its error shape
//   for "unavailable" (HTTP 503 for unary, an end-stream message for streams). Streams already
//   open are left alone. `affected` counts RPCs failed.

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";

const {
  NGHTTP2_CANCEL,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
  NGHTTP2_FLAG_END_STREAM,
  HTTP2_HEADER_STATUS,
  HTTP2_HEADER_CONTENT_TYPE,
} = http2.constants;

/** One active network fault, as the proxy sees it. */
export interface NetFault {
  readonly id: string;
  readonly kind: "delay" | "loss" | "error";
  readonly delayMs: number;
  readonly jitterMs: number;
  readonly lossPercent: number;
  readonly errorRate: number;
  /** Counts one stream (request) this fault acted on. */
  hit(): void;
}

export interface FaultProxyOptions {
  /** The instance's real address, host:port. */
  target: string;
  /** Who it stands for, in messages ("parse"). */
  label: string;
  /** The network faults active on the target right now. Called per stream and per chunk. */
  faults(): readonly NetFault[];
  random?: () => number;
}

/**
 * Flow-control windows, far above HTTP/2's 64 KiB default so large messages stream without
 * waiting on window updates. Toward callers they stay below 10 MB in total: a Node client's
 * session (default maxSessionMemory 10 MB) given a larger window queues more than that and
 * resets its own streams with ENHANCE_YOUR_CALM. Toward the service we are the receiver and
 * allow ourselves more memory, so its responses get 16/32 MiB.
 */
const CALLER_STREAM_WINDOW = 4 * 1024 * 1024;
const CALLER_SESSION_WINDOW = 8 * 1024 * 1024;
const SERVICE_STREAM_WINDOW = 16 * 1024 * 1024;
const SERVICE_SESSION_WINDOW = 32 * 1024 * 1024;
/** Node refuses new streams of a session buffering more than this (MB); above both windows. */
const SESSION_MEMORY_MB = 256;
/** Bytes a DELAY may hold per stream before the proxy stops reading it (backpressure). */
const MAX_HELD_BYTES = 64 * 1024 * 1024;
/** An open stream is rolled for PACKET_LOSS at most this often. */
const LOSS_ROLL_INTERVAL_MS = 1000;

const HOP_BY_HOP = new Set(["connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "http2-settings", "host"]);

function copyHeaders(h: http2.IncomingHttpHeaders): http2.OutgoingHttpHeaders {
  const out: http2.OutgoingHttpHeaders = {};
  for (const [k, v] of Object.entries(h)) {
    if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  }
  return out;
}

/** grpc-message is percent-encoded outside printable ASCII (and for `%` itself). */
function grpcMessage(text: string): string {
  let out = "";
  for (const b of Buffer.from(text, "utf8")) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25 ? String.fromCharCode(b) : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

const lossMessage = (faultId: string) => `chaos: stream reset (packet loss, fault ${faultId})`;

/** gRPC, gRPC-Web or Connect: callers that understand an in-protocol UNAVAILABLE. */
function isRpc(headers: http2.IncomingHttpHeaders): boolean {
  const ct = String(headers[HTTP2_HEADER_CONTENT_TYPE] ?? "").toLowerCase();
  return /^application\/(grpc|connect\+|proto|json)/.test(ct) || String(headers[":path"] ?? "").includes("connect=v1");
}

/** A Connect streaming end-stream message carrying an "unavailable" error. */
function connectEndStream(message: string): Buffer {
  const json = Buffer.from(JSON.stringify({ error: { code: "unavailable", message } }));
  const frame = Buffer.alloc(5 + json.length);
  frame[0] = 0x02; // end-stream flag
  frame.writeUInt32BE(json.length, 1);
  json.copy(frame, 5);
  return frame;
}

/**
 * Answers a stream with UNAVAILABLE in the caller's protocol, without reaching the service.
 * gRPC: trailers-only. Connect streaming: an end-stream message. Connect unary: HTTP 503 JSON.
 */
export function answerUnavailable(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, message: string): void {
  if (stream.destroyed || stream.headersSent) return;
  const ct = String(headers[HTTP2_HEADER_CONTENT_TYPE] ?? "").toLowerCase();
  // Whatever the caller still sends is read and dropped, so its flow control never stalls.
  stream.resume();
  stream.on("error", () => undefined);
  if (ct.startsWith("application/grpc")) {
    stream.respond(
      {
        [HTTP2_HEADER_STATUS]: 200,
        [HTTP2_HEADER_CONTENT_TYPE]: ct.startsWith("application/grpc-web") ? ct : "application/grpc",
        "grpc-status": "14",
        "grpc-message": grpcMessage(message),
      },
      { endStream: true },
    );
  } else if (ct.startsWith("application/connect+")) {
    stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: ct });
    stream.end(connectEndStream(message));
  } else {
    // Connect unary (application/proto, application/json, or a GET with ?connect=v1), or
    // anything else: the Connect error shape also reads fine as plain HTTP.
    stream.respond({ [HTTP2_HEADER_STATUS]: 503, [HTTP2_HEADER_CONTENT_TYPE]: "application/json" });
    stream.end(JSON.stringify({ code: "unavailable", message }));
  }
}

/** Where to dial: a wildcard listen address is reached over loopback. */
function dialAddress(target: string): string {
  const colon = target.lastIndexOf(":");
  const host = target.slice(0, colon);
  const port = target.slice(colon + 1);
  if (host === "0.0.0.0" || host === "") return `127.0.0.1:${port}`;
  if (host === "[::]") return `[::1]:${port}`;
  return target;
}

export class FaultProxy {
  private readonly server: http2.Http2Server;
  private readonly downstream = new Set<http2.ServerHttp2Session>();
  private upstream?: http2.ClientHttp2Session;
  /** Every session to the target still open (one in use; older ones draining after a GOAWAY). */
  private readonly upstreams = new Set<http2.ClientHttp2Session>();
  private readonly random: () => number;
  private readonly dial: string;
  private closed = false;
  private port = 0;
  /** Streams forwarded since start (for tests and diagnostics). */
  streams = 0;

  private constructor(private readonly opts: FaultProxyOptions) {
    this.random = opts.random ?? Math.random;
    this.dial = dialAddress(opts.target);
    this.server = http2.createServer({
      settings: { initialWindowSize: CALLER_STREAM_WINDOW },
      maxSessionMemory: SESSION_MEMORY_MB,
    });
    this.server.on("session", (s) => {
      if (this.closed) {
        s.destroy();
        return;
      }
      this.downstream.add(s);
      s.on("close", () => this.downstream.delete(s));
      s.on("error", () => undefined);
      try {
        s.setLocalWindowSize(CALLER_SESSION_WINDOW);
      } catch {
        // The session closed before its settings were exchanged.
      }
    });
    this.server.on("stream", (stream, headers, flags) => this.onStream(stream, headers, flags));
  }

  /** Starts a proxy for `opts.target` on 127.0.0.1 and an ephemeral port. */
  static async start(opts: FaultProxyOptions): Promise<FaultProxy> {
    const p = new FaultProxy(opts);
    p.server.listen(0, "127.0.0.1");
    await Promise.race([once(p.server, "listening"), once(p.server, "error").then(([e]) => Promise.reject(e))]);
    p.port = (p.server.address() as AddressInfo).port;
    return p;
  }

  /** host:port callers should use instead of the target's own. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  get target(): string {
    return this.opts.target;
  }

  /** Stops listening and drops every connection, both sides: callers see the instance gone. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.downstream) s.destroy();
    this.downstream.clear();
    for (const s of this.upstreams) s.destroy();
    this.upstreams.clear();
    this.upstream = undefined;
    await closing;
  }

  // --- internals ---------------------------------------------------------------------------

  /** The one session to the target, (re)connected on demand. */
  private session(): http2.ClientHttp2Session {
    const cur = this.upstream;
    if (cur && !cur.closed && !cur.destroyed) return cur;
    const s = http2.connect(`http://${this.dial}`, {
      settings: { initialWindowSize: SERVICE_STREAM_WINDOW },
      maxSessionMemory: SESSION_MEMORY_MB,
    });
    s.on("connect", () => {
      try {
        s.setLocalWindowSize(SERVICE_SESSION_WINDOW);
      } catch {
        // closed meanwhile
      }
    });
    // A failed or dropped connection fails its streams (handled there); the next stream dials again.
    s.on("error", () => undefined);
    s.on("close", () => this.upstreams.delete(s));
    const forget = () => {
      if (this.upstream === s) this.upstream = undefined;
    };
    s.on("close", forget);
    s.on("goaway", forget);
    this.upstream = s;
    this.upstreams.add(s);
    return s;
  }

  private onStream(down: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, flags: number): void {
    this.streams++;
    down.on("error", () => undefined);
    const faults = this.opts.faults();
    for (const f of faults) {
      if (f.kind === "error" && f.errorRate > 0 && this.random() < f.errorRate) {
        f.hit();
        answerUnavailable(down, headers, `chaos: injected error (fault ${f.id})`);
        return;
      }
    }
    // Until the stream is paired with the service's, losing it only concerns the caller.
    const lose = (faultId: string) => {
      if (isRpc(headers)) answerUnavailable(down, headers, lossMessage(faultId));
      else if (!down.closed) down.close(NGHTTP2_REFUSED_STREAM);
    };
    const ctx: StreamCtx = { delayedBy: new Set(), lossRolls: new Map(), reset: lose };
    const lostTo = this.lost(ctx, faults);
    if (lostTo !== undefined) {
      lose(lostTo);
      return;
    }
    const headerDelay = this.delayFor(ctx, faults);
    const bodyEnded = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    // The request body is taken in (and delayed) from the start, while the headers wait.
    const inbound = new Forwarder(down, () => this.onChunk(ctx, true));
    const open = () => {
      if (down.destroyed || down.closed) return;
      let up: http2.ClientHttp2Stream;
      try {
        up = this.session().request(copyHeaders(headers), { endStream: bodyEnded });
      } catch (err) {
        answerUnavailable(down, headers, `chaos proxy: cannot reach ${this.opts.label} at ${this.opts.target}: ${(err as Error).message}`);
        return;
      }
      this.pair(down, up, headers, ctx, inbound, bodyEnded);
    };
    if (headerDelay > 0) {
      const t = setTimeout(open, headerDelay);
      down.once("close", () => clearTimeout(t));
    } else open();
  }

  private pair(
    down: http2.ServerHttp2Stream,
    up: http2.ClientHttp2Stream,
    headers: http2.IncomingHttpHeaders,
    ctx: StreamCtx,
    inbound: Forwarder,
    bodyEnded: boolean,
  ): void {
    let trailers: http2.OutgoingHttpHeaders | undefined;
    let responded = false;
    let failed = false;
    let upError: Error | undefined;
    const ct = String(headers[HTTP2_HEADER_CONTENT_TYPE] ?? "").toLowerCase();
    /**
     * Ends the caller's stream with UNAVAILABLE in its own protocol, whatever was sent so far:
     * a status every client maps alike (a bare RST_STREAM in mid-stream is INTERNAL to some).
     */
    const fail = (message: string) => {
      if (failed || down.closed || down.destroyed) return;
      failed = true;
      if (!up.closed && !up.destroyed) up.close(NGHTTP2_CANCEL);
      down.resume();
      if (!isRpc(headers)) {
        down.close(NGHTTP2_REFUSED_STREAM);
      } else if (!down.headersSent) {
        answerUnavailable(down, headers, message);
      } else if (ct.startsWith("application/grpc")) {
        trailers = { "grpc-status": "14", "grpc-message": grpcMessage(message) };
        down.end();
      } else if (ct.startsWith("application/connect+")) {
        down.end(connectEndStream(message));
      } else {
        down.close(NGHTTP2_REFUSED_STREAM); // Connect unary already answering: cut it off
      }
    };
    ctx.reset = (faultId) => fail(lossMessage(faultId));
    if (!bodyEnded) inbound.pipeTo(up);
    up.on("error", (err) => (upError = err));
    up.on("response", (h, flags) => {
      if (failed || down.destroyed || down.closed) return;
      responded = true;
      const rh = copyHeaders(h);
      if (flags & NGHTTP2_FLAG_END_STREAM) {
        down.respond(rh, { endStream: true });
        return;
      }
      down.respond(rh, { waitForTrailers: true });
      new Forwarder(up, () => this.onChunk(ctx, false)).pipeTo(down);
    });
    up.on("trailers", (t) => {
      if (!failed) trailers = copyHeaders(t);
    });
    down.on("wantTrailers", () => {
      // An empty trailer block still ends the stream cleanly (Connect and plain HTTP have none).
      down.sendTrailers(trailers ?? {});
    });
    up.on("close", () => {
      if (failed || down.closed || down.destroyed) return;
      const cleanEnd = up.rstCode === NGHTTP2_NO_ERROR && !upError;
      if (responded && cleanEnd) return; // the response ended normally (the forwarder ends ours)
      if (!responded && !cleanEnd && !upError && up.rstCode !== NGHTTP2_REFUSED_STREAM) {
        down.close(up.rstCode); // the service reset the stream itself: pass its code on
        return;
      }
      if (responded && !upError && up.rstCode !== NGHTTP2_REFUSED_STREAM) {
        down.close(up.rstCode);
        return;
      }
      // Unreachable, refused, or the connection dropped: UNAVAILABLE, as a direct caller would see.
      const why = upError?.message ?? (cleanEnd ? "stream closed" : `stream reset (code ${up.rstCode})`);
      fail(`chaos proxy: ${responded ? "lost" : "cannot reach"} ${this.opts.label} at ${this.opts.target}: ${why}`);
    });
    down.on("close", () => {
      // The caller went away (or was reset): the service's side of the stream goes too.
      if (!up.closed && !up.destroyed) up.close(down.rstCode && down.rstCode !== NGHTTP2_NO_ERROR ? down.rstCode : NGHTTP2_CANCEL);
    });
  }

  /** Sum of the active delays (plus jitter) for the next request or chunk; counts each stream once. */
  private delayFor(ctx: StreamCtx, faults: readonly NetFault[]): number {
    let ms = 0;
    for (const f of faults) {
      if (f.kind !== "delay") continue;
      ms += f.delayMs + (f.jitterMs > 0 ? this.random() * f.jitterMs : 0);
      if (!ctx.delayedBy.has(f.id)) {
        ctx.delayedBy.add(f.id);
        f.hit();
      }
    }
    return ms;
  }

  /**
   * PACKET_LOSS: rolls the stream against each loss fault it has not been rolled against in
   * the last second (a new stream at once; an open one at its first chunk after the fault
   * appeared, then at most once a second while data flows). The id of the fault that hit it.
   */
  private lost(ctx: StreamCtx, faults: readonly NetFault[]): string | undefined {
    const now = performance.now();
    for (const f of faults) {
      if (f.kind !== "loss") continue;
      const next = ctx.lossRolls.get(f.id);
      if (next !== undefined && now < next) continue;
      ctx.lossRolls.set(f.id, now + LOSS_ROLL_INTERVAL_MS);
      if (f.lossPercent > 0 && this.random() * 100 < f.lossPercent) {
        f.hit();
        return f.id;
      }
    }
    return undefined;
  }

  /** Per chunk: PACKET_LOSS may reset the stream; inbound chunks get the DELAY. -1 = reset. */
  private onChunk(ctx: StreamCtx, inbound: boolean): number {
    const faults = this.opts.faults();
    if (faults.length === 0) return 0;
    const hit = this.lost(ctx, faults);
    if (hit !== undefined) {
      ctx.reset(hit);
      return -1;
    }
    return inbound ? this.delayFor(ctx, faults) : 0;
  }
}

interface StreamCtx {
  /** DELAY faults that have counted this stream. */
  delayedBy: Set<string>;
  /** PACKET_LOSS fault id → when this stream may be rolled against it again. */
  lossRolls: Map<string, number>;
  /** Ends the stream as lost to the given PACKET_LOSS fault. */
  reset(faultId: string): void;
}

/**
 * Moves chunks from one HTTP/2 stream to another with backpressure, holding each for the delay
 * `onChunk` asks for (in order: a chunk never overtakes an earlier one). Without a delay a chunk
 * is written at once, as `pipe` would.
 */
class Forwarder {
  private readonly queue: { chunk: Buffer; due: number }[] = [];
  private queuedBytes = 0;
  private lastDue = 0;
  private timer?: NodeJS.Timeout;
  private dst?: http2.Http2Stream;
  private ended = false;
  private waitingDrain = false;
  private stopped = false;

  constructor(
    private readonly src: http2.Http2Stream,
    private readonly onChunk: () => number,
  ) {
    src.on("data", (chunk: Buffer) => this.onData(chunk));
    src.on("end", () => {
      this.ended = true;
      this.flush();
    });
    src.on("close", () => this.stop());
    // Until the other side exists (headers delayed), chunks wait in the queue.
    src.pause();
    this.updateFlow();
  }

  pipeTo(dst: http2.Http2Stream): void {
    this.dst = dst;
    dst.on("drain", () => {
      this.waitingDrain = false;
      this.updateFlow();
    });
    dst.on("close", () => this.stop());
    this.flush();
    this.updateFlow();
  }

  /** Either side closed: nothing more is forwarded. */
  private stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private onData(chunk: Buffer): void {
    if (this.stopped) return;
    const delay = this.onChunk();
    if (delay < 0) return;
    const dst = this.dst;
    if (delay === 0 && this.queue.length === 0 && dst) {
      this.write(dst, chunk);
      return;
    }
    const due = Math.max(performance.now() + delay, this.lastDue);
    this.lastDue = due;
    this.queue.push({ chunk, due });
    this.queuedBytes += chunk.length;
    this.updateFlow();
    this.schedule();
  }

  /** Writes one chunk; false when the destination is full (reading pauses until it drains). */
  private write(dst: http2.Http2Stream, chunk: Buffer): boolean {
    if (dst.destroyed || dst.closed || dst.writableEnded) return false;
    if (!dst.write(chunk)) {
      this.waitingDrain = true;
      this.updateFlow();
      return false;
    }
    return true;
  }

  private flush(): void {
    const dst = this.dst;
    if (!dst || this.stopped) return;
    const now = performance.now();
    while (this.queue.length > 0 && this.queue[0].due <= now) {
      const { chunk } = this.queue.shift()!;
      this.queuedBytes -= chunk.length;
      this.write(dst, chunk);
    }
    if (this.queue.length === 0 && this.ended) {
      if (!dst.writableEnded && !dst.destroyed) dst.end();
      return;
    }
    this.updateFlow();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.queue.length === 0 || !this.dst) return;
    const wait = Math.max(0, this.queue[0].due - performance.now());
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flush();
    }, wait);
  }

  /** Reads while the destination takes data and the held bytes stay under the cap. */
  private updateFlow(): void {
    if (this.stopped) return;
    const hold = !this.dst || this.waitingDrain || this.queuedBytes > MAX_HELD_BYTES;
    if (hold) {
      // Before the destination exists, keep reading (into the queue) up to the cap.
      if (!this.dst && this.queuedBytes <= MAX_HELD_BYTES) this.src.resume();
      else this.src.pause();
    } else this.src.resume();
  }
}
