import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { create, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CalculateRequestSchema, CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grpcFrame, RawGrpcClient } from "./raw-grpc.js";

let server: http2.Http2Server;
let client: RawGrpcClient;
const seen: number[] = [];

beforeAll(async () => {
  server = http2.createServer(
    connectNodeAdapter({
      routes: (r) =>
        r.service(CalculatorService, {
          async calculate(req) {
            seen.push(req.a);
            if (req.b === 0) throw new ConnectError(`division by zero: ${req.a} / 0 – ü`, Code.InvalidArgument);
            if (req.a === 999) await new Promise((res) => setTimeout(res, 500));
            return { result: req.a + req.b };
          },
        }),
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  client = new RawGrpcClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
});
afterAll(() => {
  client.close();
  server.close();
});

const frame = (a: number, b: number) => grpcFrame(toBinary(CalculateRequestSchema, create(CalculateRequestSchema, { operation: Operation.DIVIDE, a, b })));
const PATH = "/calculator.v1.CalculatorService/Calculate";

describe("RawGrpcClient", () => {
  it("sends the pre-encoded request and resolves on grpc-status 0", async () => {
    await client.call(PATH, frame(7, 1), new AbortController().signal, 2000);
    expect(seen).toContain(7);
  });

  it("maps grpc-status and the percent-encoded message to a ConnectError", async () => {
    const err = await client.call(PATH, frame(1, 0), new AbortController().signal, 2000).catch((e) => e as ConnectError);
    expect(err).toBeInstanceOf(ConnectError);
    expect(err!.code).toBe(Code.InvalidArgument);
    expect(err!.rawMessage).toBe("division by zero: 1 / 0 – ü");
  });

  it("fails with DEADLINE_EXCEEDED after its timeout and CANCELED on abort", async () => {
    const slow = await client.call(PATH, frame(999, 1), new AbortController().signal, 50).catch((e) => e as ConnectError);
    expect(slow!.code).toBe(Code.DeadlineExceeded);
    const abort = new AbortController();
    const p = client.call(PATH, frame(999, 1), abort.signal, 5000).catch((e) => e as ConnectError);
    abort.abort();
    expect((await p)!.code).toBe(Code.Canceled);
  });

  it("reports an unknown method as UNIMPLEMENTED", async () => {
    const err = await client.call("/calculator.v1.CalculatorService/Nope", frame(1, 1), new AbortController().signal, 2000).catch((e) => e as ConnectError);
    expect(err!.code).toBe(Code.Unimplemented);
  });
});
