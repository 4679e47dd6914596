// The topology's stream: WatchTopology updates turned into view deltas for the store.

import type { Client } from "@connectrpc/connect";
import type { TopologyService, TopologyUpdate } from "@modular-runtime/proto/runtime/v1/topology";
import { toEdgeView, toNodeView } from "./adapters";
import { StreamController } from "./streamController";
import type { TopologyState } from "./topologyStore";

export function createTopologyStream(
  client: Client<typeof TopologyService>,
  store: () => Pick<TopologyState, "apply" | "setStatus">,
): StreamController<TopologyUpdate> {
  return new StreamController<TopologyUpdate>({
    open: (signal) => client.watchTopology({}, { signal }),
    onMessage: (u) =>
      store().apply({
        fullSnapshot: u.fullSnapshot,
        nodes: u.nodes.map(toNodeView),
        removedNodeIds: u.removedNodeIds,
        edges: u.edges.map(toEdgeView),
        removedEdgeIds: u.removedEdgeIds,
        serverTimeMs: Number(u.serverTimeMs),
        receivedAtMs: Date.now(),
      }),
    onStatus: (status, detail) => store().setStatus(status, detail),
  });
}
