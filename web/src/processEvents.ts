// What changed between two WatchProcesses snapshots that a timeline should mark: a process went
// down (left RUNNING/STARTING for BACKOFF, EXITED or FATAL) or was restarted (its restart count
// went up, or it is RUNNING again after going down without the count moving).

import type { ProcessView, ProcessViewState } from "./processAdapters";

export interface ProcessEvent {
  /** Local Unix ms when this browser saw it. */
  atMs: number;
  name: string;
  kind: "down" | "restarted";
  /** For "down": the exit as the supervisor describes it ("signal SIGKILL"). */
  detail: string;
  restarts: number;
}

type Snapshot = Pick<ProcessView, "name" | "state" | "restarts" | "lastExit">;

const UP: readonly ProcessViewState[] = ["RUNNING", "STARTING"];
const DOWN: readonly ProcessViewState[] = ["BACKOFF", "EXITED", "FATAL"];

export function diffProcesses(prev: readonly Snapshot[], next: readonly Snapshot[], atMs: number): ProcessEvent[] {
  const out: ProcessEvent[] = [];
  const before = new Map(prev.map((p) => [p.name, p]));
  for (const p of next) {
    const b = before.get(p.name);
    // A process seen for the first time has no history to compare with.
    if (!b) continue;
    if (UP.includes(b.state) && DOWN.includes(p.state)) out.push({ atMs, name: p.name, kind: "down", detail: p.lastExit, restarts: p.restarts });
    if (p.restarts > b.restarts || (DOWN.includes(b.state) && p.state === "RUNNING")) {
      out.push({ atMs, name: p.name, kind: "restarted", detail: "", restarts: p.restarts });
    }
  }
  return out;
}
