import { describe, expect, it } from "vitest";
import { DEFAULT_FORM, parseCount, parseScaling, validateForm, type BenchFormValues } from "../src/benchForm";

const form = (patch: Partial<BenchFormValues>): BenchFormValues => ({ ...DEFAULT_FORM, ...patch });

describe("bench form", () => {
  it("reads counts with separators and k / M suffixes, and nothing vaguer", () => {
    expect(parseCount("20000")).toBe(20_000);
    expect(parseCount(" 1,000,000 ")).toBe(1_000_000);
    expect(parseCount("1_000")).toBe(1000);
    expect(parseCount("100k")).toBe(100_000);
    expect(parseCount("1.5M")).toBe(1_500_000);
    expect(parseCount("1.5")).toBeNull();
    expect(parseCount("-5")).toBeNull();
    expect(parseCount("1e6")).toBeNull();
    expect(parseCount("")).toBeNull();
    expect(parseCount("abc")).toBeNull();
  });

  it("turns the defaults into the documented request: all modes, 1M events, 1 warm-up, 3 runs", () => {
    const r = validateForm(DEFAULT_FORM);
    expect(r).toEqual({
      ok: true,
      request: {
        modes: ["duckdb", "monolith", "split"],
        events: 1_000_000,
        distribution: "uniform",
        batchSize: 0,
        partitions: 0,
        warmupRuns: 1,
        runs: 3,
        scalingPartitions: [],
      },
    });
  });

  it("builds the e2e benchmark's request", () => {
    const r = validateForm(form({ modes: { duckdb: false, monolith: true, split: true }, events: "20k", warmup: "0", runs: "1", scaling: "1, 2", distribution: "zipf" }));
    expect(r.ok && r.request).toMatchObject({ modes: ["monolith", "split"], events: 20_000, warmupRuns: 0, runs: 1, scalingPartitions: [1, 2], distribution: "zipf" });
  });

  it("names every bad field with its value", () => {
    const r = validateForm(
      form({ modes: { duckdb: false, monolith: false, split: false }, events: "0", runs: "21", warmup: "x", partitions: "65", batchSize: "-1", scaling: "1,0" }),
    );
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.modes).toBe("pick at least one mode");
    expect(r.errors.events).toBe("events: 0 is outside 1–100,000,000");
    expect(r.errors.runs).toBe("runs: 21 is outside 1–20");
    expect(r.errors.warmup).toBe('warm-up runs: "x" is not a whole number');
    expect(r.errors.partitions).toBe("partitions: 65 is outside 0–64");
    expect(r.errors.batchSize).toBe('batch size: "-1" is not a whole number');
    expect(r.errors.scaling).toBe('scaling: "0" is not a partition count 1–64');
  });

  it("accepts 100M events but not one more", () => {
    expect(validateForm(form({ events: "100M" })).ok).toBe(true);
    expect(validateForm(form({ events: "100000001" })).ok).toBe(false);
  });

  it("parses a scaling list and refuses duplicates and fractions", () => {
    expect(parseScaling("1,2,4,8")).toEqual([1, 2, 4, 8]);
    expect(parseScaling(" 1 2;4 ")).toEqual([1, 2, 4]);
    expect(parseScaling("")).toEqual([]);
    expect(parseScaling("2,2")).toBe("scaling: 2 is listed twice");
    expect(parseScaling("1.5")).toBe('scaling: "1.5" is not a partition count 1–64');
    expect(parseScaling("128")).toBe('scaling: "128" is not a partition count 1–64');
  });
});
