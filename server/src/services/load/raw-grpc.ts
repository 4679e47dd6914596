// A lean gRPC unary client over node:http2 for the load generator. The generator sends the same
// pre-encoded request thousands of times a second; a full Connect client costs ~0.7 ms of CPU
// per call on this machine (measured), which capped the generator below its targets' capacity.
// This sends one pre-built frame per call and reads only the status from headers or trailers.

import http2 from "node:http2";
import { Code, ConnectError } from "@connectrpc/connect";

const CODE_BY_NUMBER = new Map<number, Code>(
  Object.values(Code)
    .filter((v): v is Code => typeof v === "number")
    .map((c) => [c, c]),
);

/** The 5-byte gRPC length prefix plus the message. */
export function grpcFrame(message: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  frame.set(message, 5);
  return frame;
}

function statusError(status: string | string[] | undefined, message: string | string[] | undefined): ConnectError | undefined {
  if (status === undefined) return undefined;
  const n = Number(Array.isArray(status) ? status[0] : status);
  if (n === 0) return undefined;
  const text = Array.isArray(message) ? message[0] : message;
  let decoded = text ?? "";
  try {
    decoded = decodeURIComponent(decoded);
  } catch {
    // keep it as sent
  }
  return new ConnectError(decoded || `grpc-status ${n}`, CODE_BY_NUMBER.get(n) ?? Code.Unknown);
}

export class RawGrpcClient {
  private session?: http2.ClientHttp2Session;

  constructor(private readonly baseUrl: string) {}

  private connect(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.baseUrl);
    s.on("error", () => undefined); // surfaced per call
    s.on("close", () => {
      if (this.session === s) this.session = undefined;
    });
    s.setMaxListeners(0);
    this.session = s;
    return s;
  }

  /** One unary call of `path` with a pre-encoded frame; resolves on grpc-status 0. */
  call(path: string, frame: Buffer, signal: AbortSignal, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return reject(new ConnectError("canceled", Code.Canceled));
      let stream: http2.ClientHttp2Stream;
      try {
        stream = this.connect().request({
          ":method": "POST",
          ":path": path,
          "content-type": "application/grpc",
          te: "trailers",
          "grpc-timeout": `${Math.max(1, Math.round(timeoutMs))}m`,
        });
      } catch (err) {
        return reject(new ConnectError(`cannot open a stream: ${(err as Error).message}`, Code.Unavailable));
      }
      let settled = false;
      let headersError: ConnectError | undefined;
      let sawStatus = false;
      const done = (err?: ConnectError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        done(new ConnectError("canceled", Code.Canceled));
      };
      const timer = setTimeout(() => {
        stream.close(http2.constants.NGHTTP2_CANCEL);
        done(new ConnectError(`deadline of ${timeoutMs} ms exceeded`, Code.DeadlineExceeded));
      }, timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });
      stream.on("response", (h) => {
        const httpStatus = Number(h[":status"]);
        if (httpStatus !== 200) headersError = new ConnectError(`HTTP ${httpStatus}`, httpStatus === 404 ? Code.Unimplemented : Code.Unavailable);
        // Trailers-only responses carry the status in the headers.
        if (h["grpc-status"] !== undefined) {
          sawStatus = true;
          headersError ??= statusError(h["grpc-status"], h["grpc-message"]);
        }
      });
      stream.on("trailers", (t) => {
        sawStatus = true;
        headersError ??= statusError(t["grpc-status"], t["grpc-message"]);
      });
      stream.on("data", () => undefined);
      stream.on("end", () => done(headersError ?? (sawStatus ? undefined : new ConnectError("response without grpc-status", Code.Internal))));
      stream.on("error", (err) => done(new ConnectError(err.message, Code.Unavailable)));
      stream.end(frame);
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }
}
