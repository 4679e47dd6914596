// A small h2c backend for fault-proxy tests and the proxy benchmark: CalculatorService (unary,
// division by zero fails) and ParseService.Process (bidi: every batch is answered with an ack
// carrying the CRC-32 and length of its raw data, so a test sees every byte arrived intact).

import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { crc32 } from "node:zlib";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { ParseService, StageResponseSchema } from "@modular-runtime/proto/pipeline/v1/pipeline";

export const MAX_MESSAGE = 64 * 1024 * 1024 + 1024;

/** The ack a batch's raw data earns: CRC-32 in the high 32 bits, length in the low. */
export function ackFor(data: Uint8Array): bigint {
  return (BigInt(crc32(data)) << 32n) | BigInt(data.length);
}

export interface Backend {
  address: string;
  /** Streams seen by the service (requests that reached it). */
  calls: number;
  close(): Promise<void>;
}

export async function startBackend(): Promise<Backend> {
  const backend = { calls: 0 } as Backend;
  const handler = connectNodeAdapter({
    readMaxBytes: MAX_MESSAGE,
    writeMaxBytes: MAX_MESSAGE,
    routes: (r) => {
      r.service(CalculatorService, {
        calculate(req) {
          backend.calls++;
          if (req.operation === Operation.DIVIDE && req.b === 0) throw new ConnectError("division by zero", Code.InvalidArgument);
          return { result: req.operation === Operation.DIVIDE ? req.a / req.b : req.a + req.b };
        },
      });
      r.service(ParseService, {
        async *process(requests) {
          backend.calls++;
          for await (const req of requests) {
            if (req.kind.case === "batch") {
              const b = req.kind.value;
              if (b.meta?.traceId === 999n) throw new ConnectError("batch 999 is poisoned", Code.DataLoss);
              const data = b.payload.case === "raw" ? b.payload.value.data : new Uint8Array();
              yield create(StageResponseSchema, { kind: { case: "ack", value: ackFor(data) } });
            } else if (req.kind.case === "end") {
              yield create(StageResponseSchema, { kind: { case: "checkpointDone", value: 0n } });
              return;
            }
          }
        },
      });
    },
  });
  const server = http2.createServer(
    { settings: { initialWindowSize: 16 * 1024 * 1024 }, maxSessionMemory: 256 },
    handler,
  );
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  backend.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  backend.close = async () => {
    for (const s of sessions) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return backend;
}
