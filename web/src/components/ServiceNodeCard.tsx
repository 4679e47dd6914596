// A service on the graph: name, language badge, state, health, heartbeat age, restarts. For a few
// seconds after a restart it says so: a killed stage is DEAD only until its new instance
// registers (well under a second), too short for an audience to be sure what they saw.

import { memo } from "react";
import { Handle, Position, type NodeProps, type Node } from "@xyflow/react";
import { formatAge, formatRate, type NodeView } from "../adapters";
import { healthColor, languageBadge, stateColor } from "../theme";
import { useNow } from "../useNow";
import { useTopologyStore } from "../topologyStore";

/** How long a restarted node says "restarted". */
const RESTARTED_MS = 8000;

export type ServiceNodeData = { view: NodeView; inRps: number; outRps: number; selected: boolean };
export type ServiceFlowNode = Node<ServiceNodeData, "service">;

function ServiceNodeCardImpl({ data }: NodeProps<ServiceFlowNode>) {
  const { view, inRps, outRps, selected } = data;
  const now = useNow(500);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  const age = now + offset - view.lastHeartbeatAtMs;
  const color = stateColor[view.state];
  const lang = languageBadge[view.language] ?? languageBadge.UNSPECIFIED;
  const dead = view.state === "DEAD";
  const restarted = !dead && view.restartCount > 0 && now + offset - view.registeredAtMs < RESTARTED_MS;
  return (
    <div
      data-testid={`node-${view.name}`}
      data-state={view.state}
      className={`relative w-60 rounded-xl border-2 bg-slate-900/95 px-3 py-2 shadow-lg transition-colors ${dead ? "opacity-80" : ""}`}
      style={{ borderColor: color, boxShadow: selected ? `0 0 0 3px ${color}55` : undefined }}
    >
      <Handle type="target" position={Position.Left} className="!h-2 !w-2 !border-0 !bg-slate-500" />
      {restarted && (
        <span data-testid="node-restarted" className="absolute -top-3 right-3 rounded-full bg-amber-400 px-2 py-0.5 text-xs font-bold text-slate-950 shadow">
          ↻ restarted
        </span>
      )}
      <div className="flex items-center justify-between gap-2">
        <span className="truncate text-sm font-semibold text-slate-100" title={view.name}>
          {view.name}
        </span>
        <span className="rounded px-1.5 py-0.5 text-[10px] font-bold text-white" style={{ background: lang.color }}>
          {lang.label}
        </span>
      </div>
      <div className="mt-1.5 flex items-center gap-2 text-xs">
        <span
          data-testid="node-state"
          className="rounded-full px-2 py-0.5 font-semibold text-slate-950"
          style={{ background: color }}
        >
          {view.state}
        </span>
        <span className="flex items-center gap-1 text-slate-400" title={`health ${view.health}${view.healthMessage ? ": " + view.healthMessage : ""}`}>
          <span className="inline-block h-2 w-2 rounded-full" style={{ background: healthColor[view.health] }} />
          {view.health.toLowerCase()}
        </span>
      </div>
      <div className="mt-1.5 grid grid-cols-2 gap-x-2 text-[11px] text-slate-400">
        <span>♥ {dead ? "–" : formatAge(age)}</span>
        <span>restarts {view.restartCount}</span>
        <span>in {formatRate(inRps)}</span>
        <span>out {formatRate(outRps)}</span>
      </div>
      {dead && view.deadReason && <div className="mt-1 truncate text-[11px] text-red-300">{view.deadReason}</div>}
      <Handle type="source" position={Position.Right} className="!h-2 !w-2 !border-0 !bg-slate-500" />
    </div>
  );
}

export const ServiceNodeCard = memo(ServiceNodeCardImpl);
