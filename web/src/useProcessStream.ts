import { useEffect } from "react";
import { SupervisorService, type WatchProcessesResponse } from "@modular-runtime/proto/runtime/v1/supervisor";
import { toProcessView } from "./processAdapters";
import { useProcessStore } from "./processStore";
import { StreamController } from "./streamController";
import { useClient } from "./useClient";

/** Keeps the process store fed by one WatchProcesses stream while mounted. */
export function useProcessStream(): void {
  const client = useClient(SupervisorService);
  useEffect(() => {
    const controller = new StreamController<WatchProcessesResponse>({
      open: (signal) => client.watchProcesses({}, { signal }),
      onMessage: (m) => useProcessStore.getState().setProcesses(m.processes.map(toProcessView)),
      onStatus: (status, detail) => useProcessStore.getState().setStatus(status, detail),
    });
    controller.start();
    return () => controller.stop();
  }, [client]);
}
