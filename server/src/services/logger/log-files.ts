// Embedded persistence of the log: NDJSON files in one directory, rotated by size
// (`logs.ndjson` is written, `logs.1.ndjson` is the newest full one, up to `logs.<M-1>.ndjson`),
// so the newest entries survive a restart of the control server. Writes are batched and
// synchronous (called from a timer), which keeps ordering trivial and tests deterministic.

import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import type { StoredEntry } from "./log-entry.js";

export interface LogFilesOptions {
  dir: string;
  /** Rotate when the current file reaches this size. */
  maxFileBytes?: number;
  /** Files kept, including the current one. */
  maxFiles?: number;
}

export class LogFiles {
  readonly dir: string;
  private readonly maxFileBytes: number;
  private readonly maxFiles: number;
  private pending: string[] = [];
  private currentBytes = 0;

  constructor(opts: LogFilesOptions) {
    this.dir = opts.dir;
    this.maxFileBytes = opts.maxFileBytes ?? 5 * 1024 * 1024;
    this.maxFiles = Math.max(1, opts.maxFiles ?? 5);
    mkdirSync(this.dir, { recursive: true });
    const current = this.file(0);
    this.currentBytes = existsSync(current) ? statSync(current).size : 0;
  }

  private file(i: number): string {
    return path.join(this.dir, i === 0 ? "logs.ndjson" : `logs.${i}.ndjson`);
  }

  /** The newest `max` entries of all files, oldest first. Unreadable lines (a torn write) are skipped. */
  load(max: number): StoredEntry[] {
    const out: StoredEntry[] = [];
    // Newest file first, each read backwards, until enough.
    for (let i = 0; i < this.maxFiles && out.length < max; i++) {
      const f = this.file(i);
      if (!existsSync(f)) continue;
      const lines = readFileSync(f, "utf8").split("\n");
      for (let j = lines.length - 1; j >= 0 && out.length < max; j--) {
        const line = lines[j]!;
        if (line === "") continue;
        try {
          const e = JSON.parse(line) as StoredEntry;
          if (typeof e.seq === "number" && typeof e.service === "string" && typeof e.msg === "string") out.push(e);
        } catch {
          // torn last line after a crash
        }
      }
    }
    out.reverse();
    return out;
  }

  append(e: StoredEntry): void {
    this.pending.push(JSON.stringify(e));
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  /** Writes what is pending, rotating whenever the current file is full. */
  flush(): void {
    if (this.pending.length === 0) return;
    const lines = this.pending;
    this.pending = [];
    let chunk = "";
    let chunkBytes = 0;
    for (const l of lines) {
      const bytes = Buffer.byteLength(l) + 1;
      if (this.currentBytes + chunkBytes + bytes > this.maxFileBytes && this.currentBytes + chunkBytes > 0) {
        if (chunk) appendFileSync(this.file(0), chunk);
        chunk = "";
        chunkBytes = 0;
        this.rotate();
      }
      chunk += l + "\n";
      chunkBytes += bytes;
    }
    if (chunk) appendFileSync(this.file(0), chunk);
    this.currentBytes += chunkBytes;
  }

  private rotate(): void {
    rmSync(this.file(this.maxFiles - 1), { force: true });
    for (let i = this.maxFiles - 2; i >= 0; i--) {
      if (existsSync(this.file(i))) renameSync(this.file(i), this.file(i + 1));
    }
    this.currentBytes = 0;
  }
}
