import { describe, expect, it } from 'vitest';
import { median, percentile, spread } from '../src/bench/stats.js';

describe('bench statistics', () => {
  it('median of odd and even counts, unsorted input left alone', () => {
    const xs = [5, 1, 3];
    expect(median(xs)).toBe(3);
    expect(xs).toEqual([5, 1, 3]);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([7])).toBe(7);
    expect(median([])).toBeNaN();
  });

  it('spread is the median with min and max', () => {
    expect(spread([2.5, 1, 9, 4])).toEqual({ median: 3.25, min: 1, max: 9 });
    const none = spread([]);
    expect([none.median, none.min, none.max].every(Number.isNaN)).toBe(true);
  });

  it('percentile is nearest-rank', () => {
    const xs = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(xs, 50), percentile(xs, 95), percentile(xs, 99), percentile(xs, 100)]).toEqual([50, 95, 99, 100]);
    // With 10 values p99 is the largest and p50 the 5th: nearest rank never interpolates.
    const ten = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    expect([percentile(ten, 50), percentile(ten, 51), percentile(ten, 99), percentile(ten, 0)]).toEqual([50, 60, 100, 10]);
    expect([percentile([], 50), percentile([7], 1), percentile(new Float64Array([1, 2]), 50)]).toEqual([0, 7, 1]);
  });
});
