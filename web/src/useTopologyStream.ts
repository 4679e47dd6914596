import { useEffect } from "react";
import { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { createTopologyStream } from "./topologyStream";
import { useTopologyStore } from "./topologyStore";
import { useClient } from "./useClient";

/** Keeps the topology store fed by one WatchTopology stream while the component is mounted. */
export function useTopologyStream(): void {
  const client = useClient(TopologyService);
  useEffect(() => {
    const controller = createTopologyStream(client, () => useTopologyStore.getState());
    controller.start();
    return () => controller.stop();
  }, [client]);
}
