import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { ServiceNodeSchema } from "@modular-runtime/proto/runtime/v1/topology";
import { describe, expect, it } from "vitest";
import { calculatorAdapter, chooseAdapter, ingestAdapter, PUBLISH, sampleEvents } from "./targets.js";

const node = (name: string, metadata: Record<string, string> = {}) => create(ServiceNodeSchema, { name, address: "127.0.0.1:1", metadata });

describe("ingest target", () => {
  const adapters = [calculatorAdapter(), ingestAdapter()];

  it("is the default for the pipeline's ingest stage", () => {
    expect(chooseAdapter(adapters, node("ingest", { stage: "ingest" }), "").method).toBe(PUBLISH);
    expect(chooseAdapter(adapters, node("calculator-server", { demo: "calculator" }), "").method).toBe("calculator.v1.CalculatorService/Calculate");
  });

  it("publishes valid §4.2 events by default, different ones each call", () => {
    const lines = new TextDecoder().decode(sampleEvents(100, 0)).split("\n");
    expect(lines.pop()).toBe("");
    expect(lines).toHaveLength(100);
    for (const l of lines) {
      const e = JSON.parse(l) as Record<string, unknown>;
      expect(Object.keys(e)).toEqual(["ts", "type", "user", "value"]);
      expect(e.ts).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(Number.isInteger(e.value)).toBe(true);
    }
    expect(sampleEvents(3, 1)).not.toEqual(sampleEvents(3, 2));
  });

  it("refuses a payload over 4 MiB", () => {
    let err: ConnectError | undefined;
    try {
      ingestAdapter().prepare(node("ingest"), PUBLISH, new Uint8Array(4 * 1024 * 1024 + 1));
    } catch (e) {
      err = ConnectError.from(e);
    }
    expect([err?.code, err?.rawMessage]).toEqual([Code.InvalidArgument, `invalid payload for ${PUBLISH}: 4194305 bytes; at most 4 MiB of NDJSON lines`]);
  });
});
