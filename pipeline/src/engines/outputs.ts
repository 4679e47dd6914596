// Writes results.json and metrics.json for the in-process engines (dead letters are streamed by
// the engine itself while it reads the input).
import { createHash } from 'node:crypto';
import { closeSync, openSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface RunInfo {
  mode: string;
  lines: number;
  valid: number;
  invalid: number;
  bytes: number;
  /** The run's wall time; a function is read once results.json is written, so it counts that too. */
  wallNs: bigint | (() => bigint);
  extra?: Record<string, unknown>;
}

export interface RunOutcome {
  checksum: string;
  metrics: Record<string, unknown>;
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function writeOutputs(outDir: string, results: (string | Uint8Array)[], info: RunInfo): RunOutcome {
  const hash = createHash('sha256');
  const fd = openSync(join(outDir, 'results.json'), 'w');
  try {
    for (const part of results) {
      const b = typeof part === 'string' ? Buffer.from(part, 'utf8') : part;
      hash.update(b);
      let off = 0;
      while (off < b.length) off += writeSync(fd, b, off, b.length - off);
    }
  } finally {
    closeSync(fd);
  }
  const checksum = hash.digest('hex');
  const wallSeconds = Number(typeof info.wallNs === 'function' ? info.wallNs() : info.wallNs) / 1e9;
  const metrics: Record<string, unknown> = {
    mode: info.mode,
    events: info.lines,
    valid: info.valid,
    invalid: info.invalid,
    wallSeconds,
    eventsPerSecond: wallSeconds > 0 ? info.lines / wallSeconds : 0,
    bytes: info.bytes,
    mbPerSecond: wallSeconds > 0 ? info.bytes / 1e6 / wallSeconds : 0,
    checksum,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    ...info.extra,
  };
  writeFileSync(join(outDir, 'metrics.json'), JSON.stringify(metrics, null, 2) + '\n');
  return { checksum, metrics };
}
