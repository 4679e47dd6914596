import { describe, expect, it } from "vitest";
import { LatencyHistogram } from "./histogram.js";

describe("LatencyHistogram", () => {
  it("is exact for small values and within 1/128 for large ones", () => {
    const h = new LatencyHistogram();
    for (let v = 0; v < 256; v++) h.record(v);
    expect(h.percentileUs(50)).toBe(127);
    expect(h.percentileUs(100)).toBe(255);
    for (const v of [1000, 12_345, 500_000, 7_654_321]) {
      const one = new LatencyHistogram();
      one.record(v);
      one.record(v + 1); // so the max does not clamp the bucket's upper edge
      const p = one.percentileUs(50);
      expect(p).toBeGreaterThanOrEqual(v);
      expect((p - v) / v).toBeLessThan(1 / 128);
    }
  });

  it("computes percentiles by rank, min, max and mean", () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i * 10);
    expect(h.count).toBe(1000);
    expect(h.minUs).toBe(10);
    expect(h.maxUs).toBe(10_000);
    expect(h.meanUs).toBeCloseTo(5005, 5);
    expect(Math.abs(h.percentileUs(99) - 9900) / 9900).toBeLessThan(0.01);
    expect(Math.abs(h.percentileUs(50) - 5000) / 5000).toBeLessThan(0.01);
    expect(h.percentileUs(100)).toBe(10_000);
  });

  it("is empty after reset and clamps absurd values", () => {
    const h = new LatencyHistogram();
    h.record(-5);
    h.record(1e12);
    expect(h.minUs).toBe(0);
    expect(h.maxUs).toBe(2 ** 31 - 1);
    h.reset();
    expect(h.count).toBe(0);
    expect(h.percentileUs(99)).toBe(0);
  });
});
