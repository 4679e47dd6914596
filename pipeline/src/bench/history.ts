// The benchmark history: one JSON document per finished benchmark (from the CLI or the
// dashboard) in a directory, written atomically (temporary file, then rename), so a reader never
// sees half a document and a crash loses at most the run in progress. Ids sort by start time, so
// the newest come first without reading every file.

import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport } from './report-types.js';

export type HistoryStatus = 'passed' | 'problems' | 'failed' | 'cancelled';

export interface HistoryEntry {
  id: string;
  status: HistoryStatus;
  origin: 'cli' | 'dashboard';
  startedAtMs: number;
  finishedAtMs: number;
  modes: string[];
  events: number[];
  checksumsAgree: boolean;
  /** On the largest input; null when not measured. */
  splitVsMonolith: number | null;
  monolithVsDuckdbSql: number | null;
  /** Why it failed or was cancelled. */
  error: string;
  /** Absent for a benchmark that ended before its report. */
  report?: BenchReport;
  markdown?: string;
}

const ID = /^\d{8}T\d{6}Z-[0-9a-f]{6}$/;

/** A new id: UTC start time to the second, then random hex, e.g. 20261129T082500Z-3fa9c1. */
export function newRunId(now = new Date(), random = Math.random): string {
  const t = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  const hex = Math.floor(random() * 0x1000000).toString(16).padStart(6, '0');
  return `${t}-${hex}`;
}

export function isRunId(id: string): boolean {
  return ID.test(id);
}

/** The entry a report becomes once its benchmark finished. */
export function entryFromReport(report: BenchReport, markdown: string): HistoryEntry {
  const largest = Math.max(...report.inputs.map((i) => i.events));
  const ratio = report.ratios.find((r) => r.events === largest);
  return {
    id: report.id,
    status: report.checksumsAgree ? 'passed' : 'problems',
    origin: report.origin,
    startedAtMs: Date.parse(report.startedAt),
    finishedAtMs: Date.parse(report.finishedAt),
    modes: report.options.modes,
    events: report.options.events,
    checksumsAgree: report.checksumsAgree,
    splitVsMonolith: ratio?.splitVsMonolith ?? null,
    monolithVsDuckdbSql: ratio?.monolithVsDuckdbSql ?? null,
    error: report.problems.join('; '),
    report,
    markdown,
  };
}

export class BenchHistory {
  constructor(readonly dir: string) {}

  save(entry: HistoryEntry): void {
    if (!isRunId(entry.id)) throw new Error(`bench history: bad run id ${JSON.stringify(entry.id)}`);
    mkdirSync(this.dir, { recursive: true });
    const path = join(this.dir, `${entry.id}.json`);
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry) + '\n');
    renameSync(tmp, path);
  }

  /** Newest first, without reports. Unreadable documents are skipped (named on stderr). */
  list(limit = 50): HistoryEntry[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch {
      return [];
    }
    const ids = names
      .filter((n) => n.endsWith('.json'))
      .map((n) => n.slice(0, -5))
      .filter(isRunId)
      .sort()
      .reverse();
    const out: HistoryEntry[] = [];
    for (const id of ids) {
      if (out.length >= limit) break;
      const e = this.get(id);
      if (!e) continue;
      const { report: _report, markdown: _markdown, ...head } = e;
      out.push(head);
    }
    return out;
  }

  /** One entry with its report; undefined when unknown or unreadable. */
  get(id: string): HistoryEntry | undefined {
    if (!isRunId(id)) return undefined;
    try {
      return JSON.parse(readFileSync(join(this.dir, `${id}.json`), 'utf8')) as HistoryEntry;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') process.stderr.write(`bench history: cannot read ${id}: ${(e as Error).message}\n`);
      return undefined;
    }
  }
}
