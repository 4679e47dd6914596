// What the bench reads from /proc while a run goes on: a process's peak RSS and CPU time, its
// children, and how far into the input file a reader has got.

import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on Linux for every arch we run on). */
const USER_HZ = 100;

/** VmHWM (peak RSS) in bytes; 0 when the process is gone. */
export function peakRss(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * Sets a process's VmHWM back to its current RSS (`5` to /proc/<pid>/clear_refs, Linux ≥ 4.0),
 * so that VmHWM read later is the peak since now. false when that was refused or the process
 * is gone.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** utime + stime in seconds (all threads); null when the process is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces) start at the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / USER_HZ; // fields 14 and 15 of stat(5)
  } catch {
    return null;
  }
}

/** Direct children of a process (from every thread's children list). */
export function children(pid: number): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        for (const c of readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim().split(/\s+/)) if (c) out.push(Number(c));
      } catch {
        // thread gone
      }
    }
  } catch {
    // process gone
  }
  return out;
}

/**
 * How many bytes of `path` the given processes have consumed: the largest file position of a
 * descriptor open on it (sequential readers move it; the monolith, the validator and ingest all
 * read sequentially). null when none of them has the file open.
 */
export function inputOffset(pids: number[], path: string): number | null {
  let best: number | null = null;
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== path) continue;
        const m = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
        if (m) best = Math.max(best ?? 0, Number(m[1]));
      } catch {
        // closed meanwhile
      }
    }
  }
  return best;
}
