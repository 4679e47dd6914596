import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { peakRss, resetPeakRss } from '../src/bench/probe.js';

const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

describe('bench probe', () => {
  it('resets a live process peak RSS to its current RSS, so the next reading is the peak since then', async () => {
    // A process that touches 200 MB, gives it back to the OS, then waits.
    const child = spawn(process.execPath, [
      '--expose-gc',
      '-e',
      'let b = Buffer.alloc(200 * 1024 * 1024, 1); b = null; gc(); console.log("freed"); setInterval(() => {}, 1000);',
    ], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      await once(child.stdout!, 'data');
      const pid = child.pid!;
      const before = peakRss(pid);
      expect(before).toBeGreaterThan(200e6);
      expect(rss(pid)).toBeLessThan(before - 150e6);
      expect(resetPeakRss(pid)).toBe(true);
      const after = peakRss(pid);
      expect(after).toBeLessThan(before - 150e6);
      expect(after).toBeGreaterThanOrEqual(rss(pid) - 5e6);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says so when the process is gone', () => {
    expect(resetPeakRss(2 ** 22 + 12345)).toBe(false);
    expect(peakRss(2 ** 22 + 12345)).toBe(0);
  });
});
