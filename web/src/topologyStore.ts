// The topology domain: the live graph, the stream's status, and what is selected.

import { create } from "zustand";
import type { EdgeView, NodeView } from "./adapters";

import type { StreamStatus } from "./streamController";

export type { StreamStatus };

export type Selection = { kind: "node"; name: string } | { kind: "edge"; id: string } | null;

export interface GraphDelta {
  fullSnapshot: boolean;
  nodes: NodeView[];
  removedNodeIds: string[];
  edges: EdgeView[];
  removedEdgeIds: string[];
  serverTimeMs: number;
  receivedAtMs: number;
}

export interface TopologyState {
  nodes: Record<string, NodeView>;
  edges: Record<string, EdgeView>;
  status: StreamStatus;
  statusDetail: string;
  /** serverTime - localTime, to show heartbeat ages with the server's clock. */
  clockOffsetMs: number;
  updates: number;
  selection: Selection;
  apply(delta: GraphDelta): void;
  setStatus(status: StreamStatus, detail?: string): void;
  select(selection: Selection): void;
}

export const useTopologyStore = create<TopologyState>((set) => ({
  nodes: {},
  edges: {},
  status: "connecting",
  statusDetail: "",
  clockOffsetMs: 0,
  updates: 0,
  selection: null,
  apply: (d) =>
    set((s) => {
      const nodes = d.fullSnapshot ? {} : { ...s.nodes };
      const edges = d.fullSnapshot ? {} : { ...s.edges };
      for (const id of d.removedNodeIds) delete nodes[id];
      for (const id of d.removedEdgeIds) delete edges[id];
      for (const n of d.nodes) nodes[n.id] = n;
      for (const e of d.edges) edges[e.id] = e;
      return { nodes, edges, clockOffsetMs: d.serverTimeMs - d.receivedAtMs, updates: s.updates + 1 };
    }),
  setStatus: (status, detail = "") => set({ status, statusDetail: detail }),
  select: (selection) => set({ selection }),
}));
