// What the TypeScript stages share for checkpointed runs (services/PIPELINE.md "Checkpoints and
// recovery"): files written atomically, the newest few snapshots kept, and the crash points
// tests use to kill a stage at an exact edge of the protocol.

import { closeSync, existsSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";

/** Writes `data` to `path` under a temporary name in the same directory, then renames it. */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, "w");
  try {
    const buf = typeof data === "string" ? Buffer.from(data, "utf8") : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}

/** Deletes `<dir>/<prefix><N><suffix>` files but the `keep` newest by N. */
export function pruneSnapshots(dir: string, prefix: string, suffix: string, keep = 3): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  const ids = names
    .filter((n) => n.startsWith(prefix) && n.endsWith(suffix))
    .map((n) => Number(n.slice(prefix.length, n.length - suffix.length)))
    .filter((n) => Number.isInteger(n) && n > 0)
    .sort((a, b) => b - a);
  for (const id of ids.slice(keep)) {
    try {
      unlinkSync(join(dir, `${prefix}${id}${suffix}`));
    } catch {
      // gone already
    }
  }
}

export type CrashPointName = "barrier" | "saved" | "commit" | "end";

export interface CrashPoint {
  point: CrashPointName;
  checkpoint: bigint;
  marker: string;
}

/**
 * Reads MR_CRASH_AT=<point>:<N> and MR_CRASH_MARKER; throws naming the bad value. `allowed` are
 * the points this stage has.
 */
export function crashPointFromEnv(stage: string, allowed: CrashPointName[], env: NodeJS.ProcessEnv = process.env): CrashPoint | undefined {
  const at = env.MR_CRASH_AT;
  if (at === undefined || at === "") return undefined;
  const m = /^([a-z]+):(\d+)$/.exec(at);
  if (!m) throw new Error(`${stage}: MR_CRASH_AT must be <point>:<checkpoint>, got ${JSON.stringify(at)}`);
  const point = m[1] as CrashPointName;
  if (!allowed.includes(point)) throw new Error(`${stage}: MR_CRASH_AT point ${JSON.stringify(point)} is not one of ${allowed.join(", ")}`);
  const marker = env.MR_CRASH_MARKER ?? "";
  if (marker === "") throw new Error(`${stage}: MR_CRASH_AT needs MR_CRASH_MARKER (the file that makes the crash happen once)`);
  return { point, checkpoint: BigInt(m[2]), marker };
}

/** Kills this process with SIGKILL at `point` for checkpoint `n`, once (see crashPointFromEnv). */
export function maybeCrash(cp: CrashPoint | undefined, point: CrashPointName, n: bigint): void {
  if (cp === undefined || cp.point !== point || (point !== "end" && cp.checkpoint !== n)) return;
  if (existsSync(cp.marker)) return;
  writeFileSync(cp.marker, `${point}:${n} pid ${process.pid}\n`);
  process.kill(process.pid, "SIGKILL");
}
