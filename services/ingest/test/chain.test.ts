import { create, toBinary } from "@bufbuild/protobuf";
import { DeadLetterReason, StageRequestSchema } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { describe, expect, it } from "vitest";
import type { BatchInit } from "../src/batcher.js";
import { encodeBatchRequest } from "../src/chain.js";

/** What the generic path sends: the 5-byte gRPC prefix, then protobuf-es's encoding. */
function reference(batch: BatchInit): Buffer {
  const msg = toBinary(StageRequestSchema, create(StageRequestSchema, { kind: { case: "batch", value: batch } }));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(msg.length, 1);
  return Buffer.concat([prefix, msg]);
}

function lineNumbers(...n: number[]): Uint8Array {
  return new Uint8Array(new BigUint64Array(n.map(BigInt)).buffer);
}

const meta = { traceId: 7n, ingestUnixNs: 1_764_000_000_000_000_000n, firstOffset: 100n, endOffset: 5000n, firstLine: 3n, lastLine: 90n };

describe("encodeBatchRequest", () => {
  const cases: [string, BatchInit][] = [
    ["lines, counters and dead letters", {
      meta,
      counters: { lines: 3n, invalid: 1n },
      deadLetters: [{ line: 4n, reason: DeadLetterReason.INVALID_JSON, detail: "line longer than 1 MiB (1048576 bytes)" }],
      payload: { case: "raw", value: { data: Buffer.from('{"a":1}\n{"b":2}\n'), lineNumbers: lineNumbers(3, 5) } },
    }],
    // lengths whose varints take 1, 2 and 3 bytes
    ...[100, 300, 70_000].map((n): [string, BatchInit] => [`${n} bytes of lines`, {
      meta,
      counters: { lines: 1n },
      payload: { case: "raw", value: { data: Buffer.alloc(n, 0x41), lineNumbers: lineNumbers(...Array.from({ length: Math.ceil(n / 40) }, (_, i) => i + 1)) } },
    }]),
    ["only oversized lines: an empty RawLines", {
      meta,
      counters: { lines: 1n, invalid: 1n },
      deadLetters: [{ line: 3n, reason: DeadLetterReason.INVALID_JSON, detail: "x" }],
      payload: { case: "raw", value: { data: new Uint8Array(0), lineNumbers: new Uint8Array(0) } },
    }],
    ["no payload", { meta, counters: { lines: 0n } }],
  ];
  for (const [name, batch] of cases) {
    it(`writes exactly protobuf-es's bytes: ${name}`, () => {
      const parts = encodeBatchRequest(batch);
      expect(Buffer.concat(parts).equals(reference(batch))).toBe(true);
    });
  }

  it("passes the line data on as it is, not a copy", () => {
    const data = Buffer.from('{"a":1}\n');
    const parts = encodeBatchRequest({ meta, payload: { case: "raw", value: { data, lineNumbers: lineNumbers(1) } } });
    expect(parts).toContain(data);
  });
});
