// The chaos domain: the faults active now (from WatchFaults), the fault events seen by this
// browser (the timelines' markers), the stream's status and the last action's result.

import { create } from "zustand";
import type { FaultEventView, FaultView } from "./chaosAdapters";
import type { RateSample } from "./chaosRun";
import type { StreamStatus } from "./streamController";

/** Events kept for the markers: far more than a talk produces. */
export const MAX_FAULT_EVENTS = 500;

export interface ChaosState {
  /** Oldest first. */
  faults: FaultView[];
  /** Changes as they happened (INJECTED, CRASHED, CLEARED, EXPIRED), oldest first; ACTIVE
   *  snapshots are not events. */
  events: FaultEventView[];
  status: StreamStatus;
  statusDetail: string;
  message: { text: string; error: boolean } | null;
  /** The split's rate from the graph during the current run (see chaosRun.RateSample). */
  rateSamples: RateSample[];
  /** The run the samples belong to (local Unix ms of its t = 0). */
  rateRunStartedAtMs: number;
  /** The active faults at (re)subscription time. */
  reset(faults: FaultView[]): void;
  applyEvent(e: FaultEventView): void;
  setStatus(status: StreamStatus, detail?: string): void;
  setMessage(m: { text: string; error: boolean } | null): void;
  addRateSample(runStartedAtMs: number, s: RateSample): void;
}

/** Samples kept: ten minutes at four a second. */
export const MAX_RATE_SAMPLES = 2400;

/** One event applied to the active list and the event log (pure, for the store and its tests). */
export function reduceFaults(s: Pick<ChaosState, "faults" | "events">, e: FaultEventView): Pick<ChaosState, "faults" | "events"> {
  const without = s.faults.filter((f) => f.id !== e.fault.id);
  const log = (): FaultEventView[] => {
    const next = [...s.events, e];
    return next.length > MAX_FAULT_EVENTS ? next.slice(next.length - MAX_FAULT_EVENTS) : next;
  };
  switch (e.kind) {
    case "ACTIVE":
      return { faults: s.faults.some((f) => f.id === e.fault.id) ? s.faults.map((f) => (f.id === e.fault.id ? e.fault : f)) : [...s.faults, e.fault], events: s.events };
    case "INJECTED":
      return { faults: [...without, e.fault], events: log() };
    case "CLEARED":
    case "EXPIRED":
      return { faults: without, events: log() };
    case "CRASHED":
      // One-shot: never active.
      return { faults: s.faults, events: log() };
    default:
      return s;
  }
}

export const useChaosStore = create<ChaosState>((set) => ({
  faults: [],
  events: [],
  status: "connecting",
  statusDetail: "",
  message: null,
  rateSamples: [],
  rateRunStartedAtMs: 0,
  reset: (faults) => set({ faults }),
  applyEvent: (e) => set((s) => reduceFaults(s, e)),
  setStatus: (status, detail = "") => set({ status, statusDetail: detail }),
  setMessage: (message) => set({ message }),
  addRateSample: (runStartedAtMs, sample) =>
    set((s) => {
      // A new run starts a new series.
      const prev = s.rateRunStartedAtMs === runStartedAtMs ? s.rateSamples : [];
      return { rateRunStartedAtMs: runStartedAtMs, rateSamples: [...prev, sample].slice(-MAX_RATE_SAMPLES) };
    }),
}));
