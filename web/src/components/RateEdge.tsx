// A connection on the graph: a bezier path, animated while ACTIVE, with an HTML rate label
// (HTML labels never end up hidden behind an unmeasured SVG box).

import { memo } from "react";
import { BaseEdge, EdgeLabelRenderer, getBezierPath, type Edge, type EdgeProps } from "@xyflow/react";
import { useTopologyStore } from "../topologyStore";

export type RateEdgeData = { label: string; color: string; state: string; selected: boolean };
export type RateFlowEdge = Edge<RateEdgeData, "rate">;

function RateEdgeImpl(props: EdgeProps<RateFlowEdge>) {
  const [path, labelX, labelY] = getBezierPath(props);
  const data = props.data!;
  const select = useTopologyStore((st) => st.select);
  return (
    <>
      <BaseEdge id={props.id} path={path} style={props.style} markerEnd={props.markerEnd} interactionWidth={24} />
      <EdgeLabelRenderer>
        <div
          data-testid={`edge-label-${props.id}`}
          data-state={data.state}
          onClick={() => select({ kind: "edge", id: props.id })}
          className="nodrag nopan pointer-events-auto absolute cursor-pointer rounded-md border px-2 py-0.5 text-xs font-semibold"
          style={{
            transform: `translate(-50%, -50%) translate(${labelX}px, ${labelY}px)`,
            background: "#0f172a",
            borderColor: data.selected ? data.color : "#1e293b",
            color: data.state === "ACTIVE" ? "#e2e8f0" : "#94a3b8",
          }}
        >
          {data.label}
        </div>
      </EdgeLabelRenderer>
    </>
  );
}

export const RateEdge = memo(RateEdgeImpl);
