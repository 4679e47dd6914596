// The load-test domain: every test the server reports (running and recently ended), a short
// per-second history per test for the charts, the stream's status and the last action result.
// Adapters turn wire messages into small view objects, so components never touch protobuf.

import { create } from "zustand";
import { LoadTestState, type LoadMetrics, type LoadTestInfo } from "@modular-runtime/proto/runtime/v1/load";
import type { StreamStatus } from "./streamController";

export interface LoadPoint {
  /** Seconds since the test started. */
  t: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  u50: number;
  u95: number;
  u99: number;
}

export interface LoadTestView {
  id: string;
  label: string;
  target: string;
  method: string;
  rate: number;
  durationSeconds: number;
  concurrency: number;
  /** Server Unix ms of the start (the charts' t = 0). */
  startedAtMs: number;
  state: "RUNNING" | "DRAINING" | "COMPLETED" | "STOPPED" | "FAILED" | "UNKNOWN";
  active: boolean;
  elapsedSeconds: number;
  sent: number;
  succeeded: number;
  failed: number;
  late: number;
  unsent: number;
  currentRps: number;
  saturated: boolean;
  saturationReason: string;
  everSaturated: boolean;
  p99: number;
  uncorrectedP99: number;
  errors: Record<string, number>;
}

/** Points kept per test: ten minutes at one a second. */
export const MAX_POINTS = 600;

const stateName = (s: LoadTestState): LoadTestView["state"] => {
  const n = LoadTestState[s];
  return (["RUNNING", "DRAINING", "COMPLETED", "STOPPED", "FAILED"].includes(n) ? n : "UNKNOWN") as LoadTestView["state"];
};

export function toLoadPoint(m: LoadMetrics): LoadPoint {
  return {
    t: Math.round(Number(m.elapsedMs) / 100) / 10,
    rps: Math.round(m.currentRps),
    p50: m.latencyP50Ms,
    p95: m.latencyP95Ms,
    p99: m.latencyP99Ms,
    u50: m.uncorrectedP50Ms,
    u95: m.uncorrectedP95Ms,
    u99: m.uncorrectedP99Ms,
  };
}

export function toLoadTestView(info: LoadTestInfo): LoadTestView {
  const m = info.latest;
  const s = info.summary;
  const state = stateName(m?.state ?? LoadTestState.UNSPECIFIED);
  return {
    id: info.testId,
    label: info.label,
    target: info.targetService,
    method: info.method,
    rate: info.requestsPerSecond,
    durationSeconds: info.durationSeconds,
    concurrency: info.concurrentClients,
    startedAtMs: Number(info.startedAtMs),
    state,
    active: state === "RUNNING" || state === "DRAINING",
    elapsedSeconds: Number(m?.elapsedMs ?? 0n) / 1000,
    sent: Number(m?.requestsSent ?? 0n),
    succeeded: Number(m?.requestsSucceeded ?? 0n),
    failed: Number(m?.requestsFailed ?? 0n),
    late: Number(m?.lateSends ?? 0n),
    unsent: Number(m?.requestsUnsent ?? 0n),
    currentRps: m?.currentRps ?? 0,
    saturated: m?.saturated ?? false,
    saturationReason: m?.saturationReason ?? "",
    everSaturated: s?.saturated ?? false,
    p99: s?.latencyP99Ms ?? 0,
    uncorrectedP99: s?.uncorrectedP99Ms ?? 0,
    errors: Object.fromEntries(Object.entries(m?.errorsByCode ?? {}).map(([k, v]) => [k, Number(v)])),
  };
}

export interface LoadState {
  tests: LoadTestView[];
  series: Record<string, LoadPoint[]>;
  /** The test whose charts are shown. */
  selectedId: string | null;
  /** True when the user picked it; otherwise the newest running test is followed. */
  pinned: boolean;
  status: StreamStatus;
  statusDetail: string;
  actionMessage: { text: string; error: boolean } | null;
  /** Applies one WatchLoadTests message: replaces the list, appends new points. */
  applyWatch(infos: LoadTestInfo[]): void;
  select(id: string | null, pin?: boolean): void;
  setStatus(status: StreamStatus, detail?: string): void;
  setActionMessage(m: { text: string; error: boolean } | null): void;
}

export const useLoadStore = create<LoadState>((set) => ({
  tests: [],
  series: {},
  selectedId: null,
  pinned: false,
  status: "connecting",
  statusDetail: "",
  actionMessage: null,
  applyWatch: (infos) =>
    set((s) => {
      const series: Record<string, LoadPoint[]> = {};
      for (const info of infos) {
        const prev = s.series[info.testId] ?? [];
        const m = info.latest;
        // One point per metrics interval: only a new elapsed time adds one.
        if (m && m.elapsedMs > 0n && (prev.length === 0 || prev[prev.length - 1].t < toLoadPoint(m).t)) {
          const next = [...prev, toLoadPoint(m)];
          series[info.testId] = next.length > MAX_POINTS ? next.slice(next.length - MAX_POINTS) : next;
        } else {
          series[info.testId] = prev;
        }
      }
      const tests = infos.map(toLoadTestView);
      // Follow the newest running test unless the user picked one that still exists.
      const exists = s.selectedId !== null && tests.some((t) => t.id === s.selectedId);
      const newestActive = [...tests].reverse().find((t) => t.active);
      const selectedId = exists && (s.pinned || !newestActive) ? s.selectedId : (newestActive?.id ?? tests.at(-1)?.id ?? null);
      return { tests, series, selectedId, pinned: exists && s.pinned };
    }),
  select: (selectedId, pin = true) => set({ selectedId, pinned: pin && selectedId !== null }),
  setStatus: (status, detail = "") => set({ status, statusDetail: detail }),
  setActionMessage: (actionMessage) => set({ actionMessage }),
}));
