import { create } from "@bufbuild/protobuf";
import { RunBenchmarkRequestSchema } from "@modular-runtime/proto/runtime/v1/benchmark";
import { describe, expect, it } from "vitest";
import { benchArgs, cliArgs } from "./bench-runner.js";

const dirs = { history: "/h", runs: "/r" };

describe("the CLI arguments of a benchmark request", () => {
  it("leaves the pass-through chain out only when asked to", () => {
    const plain = cliArgs(benchArgs(create(RunBenchmarkRequestSchema, { modes: ["monolith", "split"] })), "id1", dirs, "http://x");
    expect(plain).not.toContain("--no-passthrough");
    const chaos = cliArgs(benchArgs(create(RunBenchmarkRequestSchema, { modes: ["monolith", "split"], skipPassthrough: true })), "id1", dirs, "http://x");
    expect(chaos).toContain("--no-passthrough");
    expect(chaos.slice(chaos.indexOf("--modes"), chaos.indexOf("--modes") + 2)).toEqual(["--modes", "monolith,split"]);
  });
});
