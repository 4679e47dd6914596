import { useEffect } from "react";
import { LoadGeneratorService, type WatchLoadTestsResponse } from "@modular-runtime/proto/runtime/v1/load";
import { useLoadStore } from "./loadStore";
import { StreamController } from "./streamController";
import { useClient } from "./useClient";

/** Keeps the load store fed by one WatchLoadTests stream while mounted. */
export function useLoadTests(): void {
  const client = useClient(LoadGeneratorService);
  useEffect(() => {
    const controller = new StreamController<WatchLoadTestsResponse>({
      open: (signal) => client.watchLoadTests({}, { signal }),
      onMessage: (m) => useLoadStore.getState().applyWatch(m.tests),
      onStatus: (status, detail) => useLoadStore.getState().setStatus(status, detail),
    });
    controller.start();
    return () => controller.stop();
  }, [client]);
}
