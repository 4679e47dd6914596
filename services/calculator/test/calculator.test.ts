import http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { connectNodeAdapter, createGrpcTransport } from "@connectrpc/connect-node";
import { CalculatorService, Operation } from "@modular-runtime/proto/calculator/v1/calculator";
import { describe, expect, it } from "vitest";
import { calculate, createCalculatorService } from "../src/calculator-service.js";

describe("calculate", () => {
  it("does arithmetic", () => {
    expect(calculate(Operation.ADD, 2, 3)).toBe(5);
    expect(calculate(Operation.SUBTRACT, 2, 3)).toBe(-1);
    expect(calculate(Operation.MULTIPLY, 2, 3)).toBe(6);
    expect(calculate(Operation.DIVIDE, 3, 2)).toBe(1.5);
  });

  it.each([
    [Operation.DIVIDE, 1, 0, /division by zero: 1 \/ 0/],
    [Operation.UNSPECIFIED, 1, 2, /unknown operation 0/],
    [Operation.ADD, Number.NaN, 2, /operand a must be finite, got NaN/],
    [Operation.MULTIPLY, 1e308, 10, /is not finite/],
  ])("rejects op %i with %d and %d as INVALID_ARGUMENT", (op, a, b, msg) => {
    try {
      calculate(op, a, b);
      throw new Error("expected an error");
    } catch (err) {
      expect((err as ConnectError).code).toBe(Code.InvalidArgument);
      expect((err as ConnectError).message).toMatch(msg);
    }
  });
});

describe("CalculatorService over gRPC (h2c)", () => {
  it("answers a real client and reports bad input with a Connect code", async () => {
    const server = http2.createServer(connectNodeAdapter({ routes: (r) => r.service(CalculatorService, createCalculatorService()) }));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    const { port } = server.address() as AddressInfo;
    const client = createClient(CalculatorService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${port}` }));
    try {
      expect((await client.calculate({ operation: Operation.MULTIPLY, a: 6, b: 7 })).result).toBe(42);
      await expect(client.calculate({ operation: Operation.DIVIDE, a: 1, b: 0 })).rejects.toMatchObject({ code: Code.InvalidArgument });
    } finally {
      server.close();
    }
  });
});
