// The supervisor domain: every configured process, the stream's status, the last action error.

import { create } from "zustand";
import type { ProcessView } from "./processAdapters";
import type { StreamStatus } from "./streamController";

export interface ProcessState {
  processes: ProcessView[];
  status: StreamStatus;
  statusDetail: string;
  receivedAtMs: number;
  /** Result of the last start/stop/restart click, shown under the table. */
  actionMessage: { text: string; error: boolean } | null;
  setProcesses(processes: ProcessView[]): void;
  setStatus(status: StreamStatus, detail?: string): void;
  setActionMessage(message: { text: string; error: boolean } | null): void;
}

export const useProcessStore = create<ProcessState>((set) => ({
  processes: [],
  status: "connecting",
  statusDetail: "",
  receivedAtMs: 0,
  actionMessage: null,
  setProcesses: (processes) => set({ processes, receivedAtMs: Date.now() }),
  setStatus: (status, detail = "") => set({ status, statusDetail: detail }),
  setActionMessage: (actionMessage) => set({ actionMessage }),
}));
