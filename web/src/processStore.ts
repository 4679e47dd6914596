// The supervisor domain: every configured process, the stream's status, the last action error,
// and the restarts and exits seen by this browser (the chaos timeline's markers).

import { create } from "zustand";
import type { ProcessView } from "./processAdapters";
import { diffProcesses, type ProcessEvent } from "./processEvents";
import type { StreamStatus } from "./streamController";

export interface ProcessState {
  processes: ProcessView[];
  status: StreamStatus;
  statusDetail: string;
  receivedAtMs: number;
  /** Oldest first, capped at MAX_PROCESS_EVENTS. */
  events: ProcessEvent[];
  /** Result of the last start/stop/restart click, shown under the table. */
  actionMessage: { text: string; error: boolean } | null;
  setProcesses(processes: ProcessView[]): void;
  setStatus(status: StreamStatus, detail?: string): void;
  setActionMessage(message: { text: string; error: boolean } | null): void;
}

export const MAX_PROCESS_EVENTS = 500;

export const useProcessStore = create<ProcessState>((set) => ({
  processes: [],
  status: "connecting",
  statusDetail: "",
  receivedAtMs: 0,
  actionMessage: null,
  events: [],
  setProcesses: (processes) =>
    set((s) => {
      const now = Date.now();
      const seen = diffProcesses(s.processes, processes, now);
      const events = seen.length === 0 ? s.events : [...s.events, ...seen].slice(-MAX_PROCESS_EVENTS);
      return { processes, receivedAtMs: now, events };
    }),
  setStatus: (status, detail = "") => set({ status, statusDetail: detail }),
  setActionMessage: (actionMessage) => set({ actionMessage }),
}));
