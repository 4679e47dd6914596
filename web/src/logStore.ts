// The logs domain: the lines on screen (at most MAX_LINES), what arrived while paused, the
// filters, the stream's status and the server's drop/truncation counters.

import { create } from "zustand";
import { emptyFilters, filtersFromSearch, sameFilters, type LogFilters, type LogLineView, type LogStatsView } from "./logAdapters";
import type { StreamStatus } from "./streamController";

/** Lines kept (and rendered): enough to scroll back a bit, small enough for 10k lines/s. */
export const MAX_LINES = 2000;

export interface LogState {
  lines: LogLineView[];
  /** Lines received while paused, newest MAX_LINES of them. */
  pending: LogLineView[];
  /** How many lines arrived while paused (also those beyond what `pending` keeps). */
  waiting: number;
  paused: boolean;
  /** Sequence number of the newest line received: a reconnect resumes after it. */
  lastSeq: number;
  filters: LogFilters;
  status: StreamStatus;
  statusDetail: string;
  stats: LogStatsView | null;
  append(batch: LogLineView[]): void;
  setPaused(paused: boolean): void;
  /** New filters start a new tail: the lines of the old one go. */
  setFilters(filters: LogFilters): void;
  setStatus(status: StreamStatus, detail?: string): void;
  setStats(stats: LogStatsView | null): void;
  clear(): void;
}

const keepNewest = <T>(a: T[]): T[] => (a.length > MAX_LINES ? a.slice(a.length - MAX_LINES) : a);

export const useLogStore = create<LogState>((set, get) => ({
  lines: [],
  pending: [],
  waiting: 0,
  paused: false,
  lastSeq: 0,
  // From the URL at once, so the first tail already uses a shared link's filters.
  filters: typeof window === "undefined" ? emptyFilters : filtersFromSearch(window.location.search),
  status: "connecting",
  statusDetail: "",
  stats: null,
  append: (batch) => {
    if (batch.length === 0) return;
    const s = get();
    const lastSeq = Math.max(s.lastSeq, batch[batch.length - 1]!.seq);
    if (s.paused) {
      set({ pending: keepNewest(s.pending.concat(batch)), waiting: s.waiting + batch.length, lastSeq });
    } else {
      set({ lines: keepNewest(s.lines.concat(batch)), lastSeq });
    }
  },
  setPaused: (paused) => {
    const s = get();
    if (paused === s.paused) return;
    if (paused) set({ paused: true });
    else set({ paused: false, lines: keepNewest(s.lines.concat(s.pending)), pending: [], waiting: 0 });
  },
  setFilters: (filters) => {
    if (sameFilters(filters, get().filters)) return;
    set({ filters, lines: [], pending: [], waiting: 0, lastSeq: 0 });
  },
  setStatus: (status, detail = "") => {
    const s = get();
    // The controller reports "live" on every message; only changes reach the components.
    if (s.status !== status || s.statusDetail !== detail) set({ status, statusDetail: detail });
  },
  setStats: (stats) => set({ stats }),
  clear: () => set({ lines: [], pending: [], waiting: 0 }),
}));
