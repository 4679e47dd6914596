// The live topology graph (React Flow): nodes by state, edges animated while ACTIVE with a rate
// label and a width by rate, dashed while IDLE. Positions come from the stable layered layout.

import { useCallback, useEffect, useMemo, useRef } from "react";
import { Background, Controls, MarkerType, ReactFlow, useReactFlow, useStore, type NodeMouseHandler, type EdgeMouseHandler } from "@xyflow/react";
import "@xyflow/react/dist/style.css";
import { edgeWidth, formatRate } from "../adapters";
import { nodesByName, trafficOf, visibleEdges } from "../graphModel";
import { StableLayout } from "../layout";
import { stateColor } from "../theme";
import { useTopologyStore } from "../topologyStore";
import { RateEdge, type RateFlowEdge } from "./RateEdge";
import { ServiceNodeCard, type ServiceFlowNode } from "./ServiceNodeCard";

const nodeTypes = { service: ServiceNodeCard };
const edgeTypes = { rate: RateEdge };
const proOptions = { hideAttribution: true };

const fitViewOptions = { padding: 0.25, maxZoom: 1.2 };

/** Re-fits the view when services appear or disappear, so nobody has to zoom during a talk. */
function FitOnCountChange({ count }: { count: number }) {
  const { fitView } = useReactFlow();
  useEffect(() => {
    const t = setTimeout(() => void fitView(fitViewOptions), 60);
    return () => clearTimeout(t);
  }, [count, fitView]);
  return null;
}

/** Re-fits when the pane changes size (a side panel opens, the Chaos strip shows), so the whole
 *  chain stays in view instead of running off an edge. */
function FitOnResize() {
  const width = useStore((s) => s.width);
  const height = useStore((s) => s.height);
  const { fitView } = useReactFlow();
  useEffect(() => {
    const t = setTimeout(() => void fitView(fitViewOptions), 80);
    return () => clearTimeout(t);
  }, [width, height, fitView]);
  return null;
}

export function TopologyGraph() {
  const nodes = useTopologyStore((s) => s.nodes);
  const edges = useTopologyStore((s) => s.edges);
  const selection = useTopologyStore((s) => s.selection);
  const select = useTopologyStore((s) => s.select);
  const layout = useRef(new StableLayout());

  const { flowNodes, flowEdges } = useMemo(() => {
    const byName = nodesByName(nodes);
    const names = [...byName.keys()];
    const shown = visibleEdges(edges, new Set(names));
    const positions = layout.current.place(names, shown);
    const flowNodes: ServiceFlowNode[] = names.map((name) => {
      const view = byName.get(name)!;
      const { inRps, outRps } = trafficOf(name, shown);
      return {
        id: name,
        type: "service",
        position: positions.get(name)!,
        data: { view, inRps, outRps, selected: selection?.kind === "node" && selection.name === name },
        draggable: true,
      };
    });
    const flowEdges: RateFlowEdge[] = shown.map((e) => {
      const active = e.state === "ACTIVE";
      const color = e.errorsPerSecond > 0 ? stateColor.DEAD : active ? stateColor.ACTIVE : stateColor.IDLE;
      const selected = selection?.kind === "edge" && selection.id === e.id;
      const label = !active
        ? "idle"
        : e.itemsPerSecond > 0
          ? formatRate(e.itemsPerSecond, "ev/s")
          : formatRate(e.requestsPerSecond);
      return {
        id: e.id,
        type: "rate",
        source: e.source,
        target: e.target,
        animated: active,
        markerEnd: { type: MarkerType.ArrowClosed, color },
        style: {
          stroke: color,
          strokeWidth: active ? edgeWidth(e.requestsPerSecond) + (selected ? 2 : 0) : 1.5 + (selected ? 2 : 0),
          strokeDasharray: active ? undefined : "6 5",
        },
        data: { label: e.errorsPerSecond > 0 ? `${label} · ${formatRate(e.errorsPerSecond, "err/s")}` : label, color, state: e.state, selected },
      };
    });
    return { flowNodes, flowEdges };
  }, [nodes, edges, selection]);

  const onNodeClick: NodeMouseHandler = useCallback((_e, node) => select({ kind: "node", name: node.id }), [select]);
  const onEdgeClick: EdgeMouseHandler = useCallback((_e, edge) => select({ kind: "edge", id: edge.id }), [select]);
  const onPaneClick = useCallback(() => select(null), [select]);

  return (
    <ReactFlow
      nodes={flowNodes}
      edges={flowEdges}
      nodeTypes={nodeTypes}
      edgeTypes={edgeTypes}
      onNodeClick={onNodeClick}
      onEdgeClick={onEdgeClick}
      onPaneClick={onPaneClick}
      fitView
      fitViewOptions={fitViewOptions}
      proOptions={proOptions}
      colorMode="dark"
      minZoom={0.2}
    >
      <Background gap={24} color="#1e293b" />
      <Controls showInteractive={false} />
      <FitOnCountChange count={flowNodes.length} />
      <FitOnResize />
      {!selection && (
        <div className="pointer-events-none absolute right-3 top-3 z-10 text-xs text-slate-500">
          click a service or a connection for details
        </div>
      )}
    </ReactFlow>
  );
}
