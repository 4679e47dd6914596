// The shared-memory side channel of the ingest → parse hop (RawLines.shared in the proto): a
// file in tmpfs cut into fixed-size slots. A batch's line data is written into a free slot and
// the stream carries only its place; the slot is free again once parse acknowledges the batch,
// which it does after it is done with the bytes. One ring per stream, so a new attempt of a
// run never writes into a file an older stream's parse may still read.
//
// Node cannot map memory, so ingest writes with pwrite (one copy into the page cache, which is
// the shared memory) and parse maps the file read-only and reads the lines in place.

import { closeSync, existsSync, ftruncateSync, openSync, readdirSync, unlinkSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Where the rings live; parse accepts paths only under it, with this name prefix. */
export const SHM_DIR = "/dev/shm";
export const SHM_PREFIX = "modular-runtime-ingest-";

/** A place in the ring: where a batch's bytes are, and the slot to free on its ack. */
export interface RingPlace {
  slot: number;
  offset: number;
  length: number;
}

let serial = 0;

export class ShmRing {
  readonly path: string;
  private fd: number | undefined;
  private readonly free: number[];
  private unlinked = false;
  /** Why the ring stopped taking batches (a failed write, e.g. tmpfs full); undefined while it works. */
  failure?: string;

  /**
   * Creates the ring's file (mode 0600), `slots` slots of `slotBytes` each. tmpfs allocates a
   * page when it is first written, so the slots in use are what it costs in memory.
   */
  constructor(readonly slots: number, readonly slotBytes: number, dir = SHM_DIR) {
    this.path = join(dir, `${SHM_PREFIX}${process.pid}-${Date.now().toString(36)}-${serial++}`);
    this.fd = openSync(this.path, "wx+", 0o600);
    try {
      ftruncateSync(this.fd, slots * slotBytes);
    } catch (e) {
      this.close();
      throw e;
    }
    // lowest slot first: a light run touches few pages
    this.free = Array.from({ length: slots }, (_, i) => slots - 1 - i);
  }

  /** A ring if shared memory is there to make one; otherwise undefined (the bytes go inline). */
  static tryCreate(slots: number, slotBytes: number, dir = SHM_DIR): { ring?: ShmRing; error?: string } {
    if (!existsSync(dir)) return { error: `${dir} does not exist` };
    try {
      return { ring: new ShmRing(slots, slotBytes, dir) };
    } catch (e) {
      return { error: (e as Error).message };
    }
  }

  /**
   * Writes `data` into a free slot and returns its place, or undefined when it does not fit a
   * slot or every slot is taken (the caller then sends the bytes inline). A write that fails
   * (tmpfs full: its pages are allocated only now) closes the ring and says why in `failure`;
   * the run goes on inline.
   */
  place(data: Uint8Array): RingPlace | undefined {
    if (this.fd === undefined || data.length === 0 || data.length > this.slotBytes) return undefined;
    const slot = this.free.pop();
    if (slot === undefined) return undefined;
    const offset = slot * this.slotBytes;
    try {
      let done = 0;
      while (done < data.length) done += writeSync(this.fd, data, done, data.length - done, offset + done);
    } catch (e) {
      this.failure = `writing ${data.length} bytes at offset ${offset} of ${this.path} failed: ${(e as Error).message}`;
      this.close();
      return undefined;
    }
    return { slot, offset, length: data.length };
  }

  /** The batch in `slot` was acknowledged: parse is done with its bytes. */
  release(slot: number): void {
    if (slot >= 0 && slot < this.slots && !this.free.includes(slot)) this.free.push(slot);
  }

  /** Slots free now. */
  get available(): number {
    return this.free.length;
  }

  /**
   * Removes the file's name. Parse keeps its mapping (and the pages) until it lets go, so this
   * is called as soon as parse has mapped the file: then a crash of either process leaves
   * nothing behind in /dev/shm.
   */
  unlink(): void {
    if (this.unlinked) return;
    this.unlinked = true;
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  close(): void {
    if (this.fd !== undefined) {
      try {
        closeSync(this.fd);
      } catch {
        // the descriptor is gone already; nothing to release
      }
      this.fd = undefined;
    }
    this.unlink();
  }
}

/**
 * Removes rings that ingest processes which no longer run left behind (killed before parse
 * had mapped their file). Returns the paths removed.
 */
export function sweepStaleRings(dir = SHM_DIR, alive: (pid: number) => boolean = pidAlive): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(SHM_PREFIX)) continue;
    const pid = Number(name.slice(SHM_PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid <= 0 || alive(pid)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // another ingest swept it first
    }
  }
  return removed;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
