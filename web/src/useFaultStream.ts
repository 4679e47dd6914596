import { useEffect } from "react";
import { ChaosService } from "@modular-runtime/proto/runtime/v1/chaos";
import { toFaultEventView, toFaultView, type FaultEventView, type FaultView } from "./chaosAdapters";
import { useChaosStore } from "./chaosStore";
import { StreamController } from "./streamController";
import { useClient } from "./useClient";

type FaultMessage = { reset: FaultView[] } | { event: FaultEventView };

/** Keeps the chaos store fed while mounted: on every (re)connect the active list is replaced by
 *  ListActiveFaults (so a fault cleared while disconnected does not linger, and the status turns
 *  live even when nothing is active), then WatchFaults streams every change. */
export function useFaultStream(): void {
  const client = useClient(ChaosService);
  useEffect(() => {
    const controller = new StreamController<FaultMessage>({
      open: async function* (signal) {
        const list = await client.listActiveFaults({}, { signal });
        yield { reset: list.faults.map(toFaultView) };
        for await (const e of client.watchFaults({}, { signal })) yield { event: toFaultEventView(e) };
      },
      onMessage: (m) => {
        const s = useChaosStore.getState();
        if ("reset" in m) s.reset(m.reset);
        else s.applyEvent(m.event);
      },
      onStatus: (status, detail) => useChaosStore.getState().setStatus(status, detail),
    });
    controller.start();
    return () => controller.stop();
  }, [client]);
}
