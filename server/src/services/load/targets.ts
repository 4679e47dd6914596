// What the generator can call: a small adapter per kind of target. An adapter turns a resolved
// service instance, a method and a payload into a `call()` the generator fires at its rate.
// Adding a target means adding one adapter here.

import { fromJsonString, toBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { CalculateRequestSchema, CalculatorService, Operation, type CalculateRequest } from "@modular-runtime/proto/calculator/v1/calculator";
import { IngestService } from "@modular-runtime/proto/pipeline/v1/pipeline";
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

export const PUBLISH = "pipeline.v1.IngestService/Publish";
const EVENT_TYPES = ["click", "view", "purchase", "signup", "search"];

/** `count` valid §4.2 event lines stamped now: the default Publish payload. */
export function sampleEvents(count: number, seed: number): Uint8Array {
  const ts = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  let out = "";
  for (let i = 0; i < count; i++) {
    const n = seed * count + i;
    out += `{"ts":"${ts}","type":"${EVENT_TYPES[n % EVENT_TYPES.length]}","user":"u${String(n % 1000).padStart(6, "0")}","value":${(n * 37) % 200}}\n`;
  }
  return new TextEncoder().encode(out);
}

/**
 * The split pipeline's ingest (`IngestService/Publish`): every request publishes a batch of event
 * lines into ingest's live run, so the load flows down the whole chain. The payload is NDJSON
 * lines (at most 4 MiB); empty means 100 fresh sample events per request.
 */
export function ingestAdapter(transportFor: TransportFactory = grpcTransport): TargetAdapter {
  return {
    methods: [PUBLISH],
    isDefaultFor: (node) => node.metadata["stage"] === "ingest" || node.name === "ingest",
    prepare(node, method, payload) {
      if (payload.length > 4 * 1024 * 1024) {
        throw new ConnectError(`invalid payload for ${PUBLISH}: ${payload.length} bytes; at most 4 MiB of NDJSON lines`, Code.InvalidArgument);
      }
      const client = createClient(IngestService, transportFor(node.address));
      let calls = 0;
      return {
        method,
        async call(signal, timeoutMs) {
          const lines = payload.length > 0 ? payload : sampleEvents(100, calls++);
          await client.publish({ lines }, { signal, timeoutMs });
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
