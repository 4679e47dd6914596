// What the generator can call: a small adapter per kind of target. An adapter turns a resolved
// service instance, a method and a payload into a `call()` the generator fires at its rate.
// Adding a target (e.g. the pipeline's ingest, once it exists) means adding one adapter here.

import { fromJsonString, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CalculateRequestSchema, CalculatorService, Operation, type CalculateRequest } from "@modular-runtime/proto/calculator/v1/calculator";
import type { ServiceNode } from "@modular-runtime/proto/runtime/v1/topology";
import { grpcFrame, RawGrpcClient } from "./raw-grpc.js";

/** One prepared target: fire `call` as often as the schedule says; `close` frees connections. */
export interface LoadTarget {
  /** The method, as reported on the topology edge. */
  readonly method: string;
  /** One request. Resolves on success, rejects with the error (a ConnectError or anything). */
  call(signal: AbortSignal, timeoutMs: number): Promise<void>;
  close(): void;
}

export interface TargetAdapter {
  /** Fully qualified methods it can call. */
  readonly methods: readonly string[];
  /** Whether it is the default for a service when no method is given. */
  isDefaultFor(node: ServiceNode): boolean;
  /** Prepares a target; throws INVALID_ARGUMENT for a bad payload. */
  prepare(node: ServiceNode, method: string, payload: Uint8Array): LoadTarget;
}

export type TransportFactory = (address: string) => Transport;

/** gRPC over h2c through a full Connect client. */
export const grpcTransport: TransportFactory = (address) => createGrpcTransport({ baseUrl: `http://${address}` });

export const CALCULATE = "calculator.v1.CalculatorService/Calculate";

function parsePayload(payload: Uint8Array): CalculateRequest {
  const text = payload.length === 0 ? '{"operation":"OPERATION_ADD","a":1,"b":2}' : new TextDecoder().decode(payload);
  try {
    return fromJsonString(CalculateRequestSchema, text);
  } catch (err) {
    throw new ConnectError(
      `invalid payload for ${CALCULATE}: ${JSON.stringify(text.slice(0, 200))} (${(err as Error).message}); expected e.g. {"operation":"OPERATION_ADD","a":1,"b":2}`,
      Code.InvalidArgument,
    );
  }
}

/**
 * The calculator demo (`CalculatorService/Calculate`). By default it speaks gRPC over h2c with a
 * pre-encoded request (see raw-grpc.ts); with a transport factory it uses a full Connect client.
 */
export function calculatorAdapter(transportFor?: TransportFactory): TargetAdapter {
  return {
    methods: [CALCULATE],
    isDefaultFor: (node) => node.metadata["demo"] === "calculator" || node.name.startsWith("calculator"),
    prepare(node, method, payload) {
      const request = parsePayload(payload);
      if (request.operation === Operation.UNSPECIFIED) request.operation = Operation.ADD;
      if (!transportFor) {
        const raw = new RawGrpcClient(`http://${node.address}`);
        const frame = grpcFrame(toBinary(CalculateRequestSchema, request));
        const path = `/${CALCULATE}`;
        return {
          method,
          call: (signal, timeoutMs) => raw.call(path, frame, signal, timeoutMs),
          close: () => raw.close(),
        };
      }
      const client = createClient(CalculatorService, transportFor(node.address));
      return {
        method,
        async call(signal, timeoutMs) {
          await client.calculate(request, { signal, timeoutMs });
        },
        close() {
          // The Node transports close idle HTTP/2 sessions themselves; nothing is held here.
        },
      };
    },
  };
}

/** Picks the adapter for a method, or the default one for the node when the method is empty. */
export function chooseAdapter(adapters: readonly TargetAdapter[], node: ServiceNode, method: string): { adapter: TargetAdapter; method: string } {
  if (method === "") {
    const adapter = adapters.find((a) => a.isDefaultFor(node));
    if (!adapter) {
      throw new ConnectError(
        `method is required for service ${JSON.stringify(node.name)} (no default); supported: ${adapters.flatMap((a) => a.methods).join(", ")}`,
        Code.InvalidArgument,
      );
    }
    return { adapter, method: adapter.methods[0] };
  }
  const adapter = adapters.find((a) => a.methods.includes(method));
  if (!adapter) {
    throw new ConnectError(
      `unsupported method ${JSON.stringify(method)}; supported: ${adapters.flatMap((a) => a.methods).join(", ")}`,
      Code.InvalidArgument,
    );
  }
  return { adapter, method };
}
