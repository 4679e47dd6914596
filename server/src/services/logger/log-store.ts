// The log of the runtime: a bounded ring buffer (newest entries win) with strictly increasing
// sequence numbers, the limits that keep it bounded (entry size, per-service rate limit), the
// live subscribers (each with a bounded queue), and optional NDJSON persistence.
// Nothing is lost silently: every cut, drop and eviction is counted per service, rate-limit drops
// are announced by a WARN marker, and a slow subscriber gets an "N entries skipped" marker.

import type { Clock } from "../../clock.js";
import type { Scheduler } from "../topology/topology-watcher.js";
import { ERROR, INFO, parseLine, WARN, type Level, type NewEntry, type StoredEntry } from "./log-entry.js";
import type { EntryPredicate } from "./log-filter.js";
import type { LogFiles } from "./log-files.js";

export interface RateLimit {
  /** Sustained lines per second per service. */
  perSecond: number;
  /** Bucket size: lines a service may write at once. */
  burst: number;
}

export interface LogStoreOptions {
  clock: Clock;
  scheduler: Scheduler;
  /** Ring buffer size in entries. */
  capacity?: number;
  /** Longer messages are cut and marked truncated. */
  maxMessageChars?: number;
  /** Per-service token bucket; `null` disables rate limiting. */
  rateLimit?: RateLimit | null;
  /** How often a "N lines dropped by rate limit" marker sums up the drops. */
  dropReportMs?: number;
  /** Entries a subscriber may have queued before it skips. */
  subscriberQueue?: number;
  /** Persistence; without it the log lives in memory only. */
  files?: LogFiles;
  /** How often pending entries are written to the files. */
  flushMs?: number;
}

export interface ServiceCounters {
  accepted: number;
  truncated: number;
  droppedRateLimit: number;
  droppedEvicted: number;
}

export const DEFAULT_RATE_LIMIT: RateLimit = { perSecond: 2000, burst: 4000 };
export const MAX_FIELDS = 32;
export const MAX_FIELD_CHARS = 1024;
export const MAX_CORRELATION_CHARS = 256;
/** Service name of markers the runtime writes about the log itself (skips, restarts). */
export const RUNTIME_SERVICE = "runtime";

const MARKER_LEVELS: Record<string, Level> = { info: INFO, warn: WARN, error: ERROR };

/** One live tail. The service's stream drains it; the store fills it. */
export class LogSubscriber {
  private queue: StoredEntry[] = [];
  private skipped = 0;
  private lastSkippedSeq = 0;
  private lastSkippedTs = 0;
  private wake?: () => void;
  closed = false;

  constructor(
    readonly matches: EntryPredicate,
    private readonly maxQueue: number,
  ) {}

  /** Called by the store for every new entry. */
  offer(e: StoredEntry): void {
    if (this.closed || !this.matches(e)) return;
    if (this.queue.length >= this.maxQueue) {
      this.skipped++;
      this.lastSkippedSeq = e.seq;
      this.lastSkippedTs = e.ts;
    } else {
      this.flushSkipped();
      this.queue.push(e);
    }
    this.notify();
  }

  private flushSkipped(): void {
    if (this.skipped === 0) return;
    // Takes the place (and sequence number) of the last entry it stands for, so a client
    // resuming after it continues after the skipped ones.
    this.queue.push({
      seq: this.lastSkippedSeq,
      ts: this.lastSkippedTs,
      service: RUNTIME_SERVICE,
      level: WARN,
      msg: `${this.skipped} entries skipped: this viewer read too slowly`,
      stream: "",
      marker: true,
    });
    this.skipped = 0;
  }

  /** Up to `max` queued entries, oldest first (including a pending skip marker). */
  take(max: number): StoredEntry[] {
    // Skips happened after everything queued, so their marker goes last.
    if (this.queue.length < max) this.flushSkipped();
    return this.queue.length <= max ? this.queue.splice(0) : this.queue.splice(0, max);
  }

  get pending(): number {
    return this.queue.length + (this.skipped > 0 ? 1 : 0);
  }

  /** Resolves when something is queued or the subscriber is closed. */
  waitForEntries(): Promise<void> {
    if (this.pending > 0 || this.closed) return Promise.resolve();
    return new Promise((resolve) => (this.wake = resolve));
  }

  notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }
}

export class LogStore {
  readonly capacity: number;
  private readonly ring: (StoredEntry | undefined)[];
  private start = 0;
  private count = 0;
  private nextSeq = 1;
  private readonly counters = new Map<string, ServiceCounters>();
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly pendingDrops = new Map<string, number>();
  private dropTimer: unknown;
  private flushTimer: unknown;
  private readonly subscribers = new Set<LogSubscriber>();
  private readonly clock: Clock;
  private readonly scheduler: Scheduler;
  private readonly maxMessageChars: number;
  private readonly rateLimit: RateLimit | null;
  private readonly dropReportMs: number;
  private readonly subscriberQueue: number;
  private readonly files?: LogFiles;
  private readonly flushMs: number;

  constructor(opts: LogStoreOptions) {
    this.clock = opts.clock;
    this.scheduler = opts.scheduler;
    this.capacity = Math.max(1, opts.capacity ?? 10_000);
    this.ring = new Array(this.capacity);
    this.maxMessageChars = opts.maxMessageChars ?? 8 * 1024;
    this.rateLimit = opts.rateLimit === undefined ? DEFAULT_RATE_LIMIT : opts.rateLimit;
    this.dropReportMs = opts.dropReportMs ?? 1000;
    this.subscriberQueue = opts.subscriberQueue ?? 5000;
    this.files = opts.files;
    this.flushMs = opts.flushMs ?? 250;
    if (this.files) {
      const loaded = this.files.load(this.capacity);
      for (const e of loaded) this.put(e);
      if (loaded.length > 0) this.nextSeq = loaded[loaded.length - 1]!.seq + 1;
      this.marker(RUNTIME_SERVICE, `control server started; ${loaded.length} entries reloaded from ${this.files.dir}`, INFO);
    }
  }

  /** Sequence number of the newest entry, 0 when empty. */
  get lastSequence(): number {
    return this.nextSeq - 1;
  }

  get size(): number {
    return this.count;
  }

  /**
   * A line a supervised process wrote (the supervisor's `onLine`). JSON lines are structured;
   * plain lines get INFO (stdout) or WARN/ERROR (stderr); see log-entry.ts.
   */
  ingestLine(service: string, stream: "stdout" | "stderr", line: string, instanceId?: string): void {
    if (!this.admit(service)) return;
    this.commit(parseLine(service, stream, line, this.clock.wallNow(), instanceId));
  }

  /** An entry a service shipped over StreamLogs. Returns what became of it. */
  append(e: NewEntry): "accepted" | "truncated" | "dropped" {
    if (!this.admit(e.service)) return "dropped";
    return this.commit(e).truncated ? "truncated" : "accepted";
  }

  /** A note of the runtime about a service (lifecycle, drops); never rate limited. */
  marker(service: string, text: string, level: Level | "info" | "warn" | "error" = INFO): StoredEntry {
    const lvl = typeof level === "number" ? level : (MARKER_LEVELS[level] ?? INFO);
    return this.insert({ service, ts: this.clock.wallNow(), level: lvl, msg: text, stream: "", marker: true });
  }

  /** The newest `limit` entries matching, oldest first. */
  query(matches: EntryPredicate, limit: number): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < limit; i--) {
      const e = this.at(i);
      if (matches(e)) out.push(e);
    }
    return out.reverse();
  }

  /** Like `query`, but only entries newer than `afterSeq`. */
  queryAfter(matches: EntryPredicate, afterSeq: number, limit: number): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (let i = this.count - 1; i >= 0 && out.length < limit; i--) {
      const e = this.at(i);
      if (e.seq <= afterSeq) break;
      if (matches(e)) out.push(e);
    }
    return out.reverse();
  }

  subscribe(matches: EntryPredicate): LogSubscriber {
    const s = new LogSubscriber(matches, this.subscriberQueue);
    this.subscribers.add(s);
    return s;
  }

  unsubscribe(s: LogSubscriber): void {
    s.closed = true;
    this.subscribers.delete(s);
    s.notify();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /** Counters per service, sorted by name. */
  stats(): { service: string; counters: ServiceCounters }[] {
    return [...this.counters.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([service, counters]) => ({ service, counters: { ...counters } }));
  }

  /** Writes pending entries to the files now. */
  flush(): void {
    if (this.flushTimer !== undefined) this.scheduler.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    this.files?.flush();
  }

  /** Reports pending drops, flushes, and closes every subscriber. */
  close(): void {
    this.reportDrops();
    this.flush();
    for (const s of [...this.subscribers]) this.unsubscribe(s);
  }

  private at(i: number): StoredEntry {
    return this.ring[(this.start + i) % this.capacity]!;
  }

  private countersOf(service: string): ServiceCounters {
    let c = this.counters.get(service);
    if (!c) {
      c = { accepted: 0, truncated: 0, droppedRateLimit: 0, droppedEvicted: 0 };
      this.counters.set(service, c);
    }
    return c;
  }

  /** The token bucket; counts and schedules the announcement of a drop. */
  private admit(service: string): boolean {
    const limit = this.rateLimit;
    if (!limit) return true;
    const now = this.clock.now();
    let b = this.buckets.get(service);
    if (!b) {
      b = { tokens: limit.burst, at: now };
      this.buckets.set(service, b);
    } else {
      b.tokens = Math.min(limit.burst, b.tokens + ((now - b.at) * limit.perSecond) / 1000);
      b.at = now;
    }
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return true;
    }
    this.countersOf(service).droppedRateLimit++;
    this.pendingDrops.set(service, (this.pendingDrops.get(service) ?? 0) + 1);
    this.dropTimer ??= this.scheduler.setTimeout(() => {
      this.dropTimer = undefined;
      this.reportDrops();
    }, this.dropReportMs);
    return false;
  }

  private reportDrops(): void {
    if (this.dropTimer !== undefined) {
      this.scheduler.clearTimeout(this.dropTimer);
      this.dropTimer = undefined;
    }
    const limit = this.rateLimit;
    for (const [service, n] of this.pendingDrops) {
      this.marker(service, `${n} lines dropped by rate limit (${limit?.perSecond}/s, burst ${limit?.burst})`, WARN);
    }
    this.pendingDrops.clear();
  }

  /** Applies the size limits, counts the entry as accepted and stores it. */
  private commit(e: NewEntry): StoredEntry {
    let truncated = e.truncated === true;
    if (e.msg.length > this.maxMessageChars) {
      e.msg = e.msg.slice(0, this.maxMessageChars);
      truncated = true;
    }
    if (e.corr !== undefined && e.corr.length > MAX_CORRELATION_CHARS) {
      e.corr = e.corr.slice(0, MAX_CORRELATION_CHARS);
      truncated = true;
    }
    if (e.fields) {
      const keys = Object.keys(e.fields);
      if (keys.length > MAX_FIELDS) {
        const kept: Record<string, string> = {};
        for (const k of keys.slice(0, MAX_FIELDS)) kept[k] = e.fields[k]!;
        e.fields = kept;
        truncated = true;
      }
      for (const [k, v] of Object.entries(e.fields)) {
        if (v.length > MAX_FIELD_CHARS) {
          e.fields[k] = v.slice(0, MAX_FIELD_CHARS);
          truncated = true;
        }
      }
    }
    if (truncated) e.truncated = true;
    else delete e.truncated;
    const c = this.countersOf(e.service);
    c.accepted++;
    if (truncated) c.truncated++;
    return this.insert(e);
  }

  private insert(e: NewEntry): StoredEntry {
    const stored = e as StoredEntry;
    stored.seq = this.nextSeq++;
    this.put(stored);
    if (this.files) {
      this.files.append(stored);
      this.flushTimer ??= this.scheduler.setTimeout(() => {
        this.flushTimer = undefined;
        this.files?.flush();
      }, this.flushMs);
    }
    for (const s of this.subscribers) s.offer(stored);
    return stored;
  }

  private put(e: StoredEntry): void {
    if (this.count === this.capacity) {
      const evicted = this.ring[this.start]!;
      this.countersOf(evicted.service).droppedEvicted++;
      this.ring[this.start] = e;
      this.start = (this.start + 1) % this.capacity;
    } else {
      this.ring[(this.start + this.count) % this.capacity] = e;
      this.count++;
    }
  }
}
