// Samples CPU and RSS of whole process groups from /proc about once a second, so a service that
// forks helpers is measured with them.

import { readdirSync, readFileSync } from "node:fs";
import type { ResourceSample } from "./supervisor.js";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux
const PAGE_SIZE = 4096;

interface GroupUsage {
  ticks: number;
  rssBytes: number;
}

function readGroups(wanted: Set<number>): Map<number, GroupUsage> {
  const out = new Map<number, GroupUsage>();
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return out;
  }
  for (const e of entries) {
    if (e.charCodeAt(0) < 48 || e.charCodeAt(0) > 57) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${e}/stat`, "utf8");
    } catch {
      continue;
    }
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const pgrp = Number(f[2]);
    if (!wanted.has(pgrp)) continue;
    const u = out.get(pgrp) ?? { ticks: 0, rssBytes: 0 };
    u.ticks += Number(f[11]) + Number(f[12]);
    u.rssBytes += Number(f[21]) * PAGE_SIZE;
    out.set(pgrp, u);
  }
  return out;
}

export class ProcSampler {
  private last = new Map<number, { ticks: number; at: number }>();

  /** Samples the groups led by the given pids; names map to their sample. */
  sample(pids: Map<string, number>): Map<string, ResourceSample> {
    const now = performance.now();
    const usage = readGroups(new Set(pids.values()));
    const out = new Map<string, ResourceSample>();
    const next = new Map<number, { ticks: number; at: number }>();
    for (const [name, pid] of pids) {
      const u = usage.get(pid);
      if (!u) continue;
      const prev = this.last.get(pid);
      const cpuPercent = prev ? (((u.ticks - prev.ticks) / TICKS_PER_SECOND) / Math.max(0.001, (now - prev.at) / 1000)) * 100 : 0;
      next.set(pid, { ticks: u.ticks, at: now });
      out.set(name, { cpuPercent: Math.max(0, cpuPercent), rssBytes: u.rssBytes });
    }
    this.last = next;
    return out;
  }
}
