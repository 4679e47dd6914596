// A client-side bidirectional gRPC stream straight on node:http2, for the one hop where every
// input byte passes: ingest → parse. A message goes out as the buffers it was built from (the
// 5-byte gRPC prefix and protobuf framing in one small buffer, the line data as it is), written
// in one go without being copied into an envelope first. The generic Connect client copies each
// batch about six times on the way out (protobuf writer, its growth, the envelope), which cost
// more CPU than framing the lines. Control messages and responses are small and use
// protobuf-es as usual; the caller encodes them.

import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

export interface GrpcStreamOptions {
  /** host:port of the server (plaintext HTTP/2). */
  address: string;
  /** "/package.Service/Method". */
  path: string;
  /** Largest response message accepted. */
  readMaxBytes: number;
}

const SESSION_MEMORY_MB = 256;

// gRPC over HTTP/2 (the spec's "Errors" and "HTTP to gRPC Status Code Mapping").
const RST_CODES: Record<number, Code> = {
  [http2.constants.NGHTTP2_REFUSED_STREAM]: Code.Unavailable,
  [http2.constants.NGHTTP2_CANCEL]: Code.Canceled,
  [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]: Code.ResourceExhausted,
  [http2.constants.NGHTTP2_INADEQUATE_SECURITY]: Code.PermissionDenied,
};

function codeOfHttpStatus(status: number): Code {
  switch (status) {
    case 400:
      return Code.Internal;
    case 401:
      return Code.Unauthenticated;
    case 403:
      return Code.PermissionDenied;
    case 404:
      return Code.Unimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return Code.Unavailable;
    default:
      return Code.Unknown;
  }
}

/** The 5-byte gRPC message prefix (uncompressed) for a message of `length` bytes. */
export function grpcPrefix(length: number, into: Uint8Array = new Uint8Array(5), at = 0): Uint8Array {
  into[at] = 0;
  into[at + 1] = (length >>> 24) & 0xff;
  into[at + 2] = (length >>> 16) & 0xff;
  into[at + 3] = (length >>> 8) & 0xff;
  into[at + 4] = length & 0xff;
  return into;
}

export class GrpcBidiStream {
  private readonly session: http2.ClientHttp2Session;
  private readonly stream: http2.ClientHttp2Stream;
  private headers?: http2.IncomingHttpHeaders;
  private trailers?: http2.IncomingHttpHeaders;
  private cancelled = false;
  /** A connection-level failure seen before the stream reported one. */
  private sessionError?: Error;

  constructor(private readonly opts: GrpcStreamOptions) {
    // Node refuses streams (ENHANCE_YOUR_CALM) once a session holds more than maxSessionMemory
    // (default 10 MB) of unsent data; the caller's credit window already bounds that (e.g.
    // 8 batches of at most 5 MiB), so the limit only has to sit above it.
    this.session = http2.connect(`http://${opts.address}`, { maxSessionMemory: SESSION_MEMORY_MB });
    this.session.on("error", (e) => (this.sessionError ??= e));
    this.stream = this.session.request(
      { ":method": "POST", ":path": opts.path, "content-type": "application/grpc+proto", te: "trailers" },
      { endStream: false },
    );
    this.stream.on("response", (h) => (this.headers = h));
    this.stream.on("trailers", (t) => (this.trailers = t));
    // Errors surface through `responses()`; this keeps an error nobody reads yet from crashing.
    this.stream.on("error", () => undefined);
  }

  /**
   * Resolves once the connection is up, or has failed (the failure itself surfaces through
   * `responses()`), so a caller can let the request go out before it keeps the thread busy.
   */
  connected(): Promise<void> {
    if (this.session.destroyed) return Promise.resolve();
    // one more turn of the event loop after "connect": what was written so far goes out in it
    return new Promise<void>((resolve) => {
      const done = () => setImmediate(resolve);
      if (!this.session.connecting) return done();
      this.session.once("connect", done);
      this.session.once("close", done);
      this.session.once("error", done);
    });
  }

  /**
   * Sends one message made of `parts` (prefix included), without copying them: they must stay
   * unchanged until `written` is called (after they went to the socket; not called when the
   * stream fails first).
   */
  write(parts: Uint8Array[], written?: () => void): void {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    this.stream.cork();
    const last = parts.length - 1;
    parts.forEach((p, i) => this.stream.write(p, i === last && written ? (err) => err || written() : undefined));
    this.stream.uncork();
  }

  /** Half-closes the request side: no more messages. */
  end(): void {
    if (!this.stream.destroyed && !this.stream.writableEnded) this.stream.end();
  }

  /** Cancels the call (RST_STREAM CANCEL) and closes the connection. */
  cancel(): void {
    this.cancelled = true;
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
    this.session.close();
  }

  /**
   * The response messages, in order. Ends when the server ends the call with status OK; throws
   * a ConnectError with the server's code and message otherwise, or for a broken connection.
   */
  async *responses(): AsyncGenerator<Uint8Array> {
    let pending: Buffer = Buffer.alloc(0);
    try {
      for await (const chunk of this.stream as AsyncIterable<Buffer>) {
        pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
        let at = 0;
        while (pending.length - at >= 5) {
          const flags = pending[at]!;
          const len = pending.readUInt32BE(at + 1);
          if (flags & 1) throw new ConnectError("protocol error: compressed message without grpc-encoding", Code.Internal);
          if (len > this.opts.readMaxBytes) {
            throw new ConnectError(`message size ${len} is larger than configured readMaxBytes ${this.opts.readMaxBytes}`, Code.ResourceExhausted);
          }
          if (pending.length - at - 5 < len) break;
          yield pending.subarray(at + 5, at + 5 + len);
          at += 5 + len;
        }
        pending = at === pending.length ? Buffer.alloc(0) : pending.subarray(at);
      }
    } catch (e) {
      throw this.failure(e);
    } finally {
      if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_CANCEL);
      this.session.close();
    }
    if (pending.length > 0) throw new ConnectError("protocol error: incomplete message at the end of the stream", Code.Internal);
    const status = this.status();
    if (status) throw status;
  }

  /** The call's outcome from its headers and trailers: undefined for OK. */
  private status(): ConnectError | undefined {
    const h = this.headers ?? {};
    const t = this.trailers ?? {};
    const httpStatus = Number(h[":status"] ?? 0);
    const grpcStatus = t["grpc-status"] ?? h["grpc-status"];
    if (grpcStatus === undefined) {
      if (httpStatus !== 200) return new ConnectError(`HTTP ${httpStatus}`, codeOfHttpStatus(httpStatus));
      return new ConnectError("protocol error: missing grpc-status", Code.Internal);
    }
    const code = Number(grpcStatus);
    if (code === 0) return undefined;
    const raw = t["grpc-message"] ?? h["grpc-message"];
    let message = typeof raw === "string" ? raw : "";
    try {
      message = decodeURIComponent(message);
    } catch {
      // not percent-encoded after all: keep it as it came
    }
    return new ConnectError(message, code in Code ? (code as Code) : Code.Unknown);
  }

  private failure(e: unknown): ConnectError {
    if (e instanceof ConnectError) return e;
    if (this.cancelled) return new ConnectError("the call was cancelled", Code.Canceled);
    const rst = this.stream.rstCode;
    // A stream reset right after the server's trailers still has a status to report.
    const status = this.trailers ? this.status() : undefined;
    if (status) return status;
    const cause = this.sessionError ?? (e as Error);
    if (rst !== undefined && rst !== http2.constants.NGHTTP2_NO_ERROR && !this.sessionError) {
      return new ConnectError(`stream reset (HTTP/2 code ${rst}): ${cause.message}`, RST_CODES[rst] ?? Code.Internal);
    }
    return new ConnectError(cause.message, Code.Unavailable);
  }
}
