// Side panel with everything known about the selected node or edge, and chaos actions on a node.

import type { ReactNode } from "react";
import { formatAge, formatBytes, formatRate } from "../adapters";
import { nodesByName } from "../graphModel";
import { healthColor, stateColor } from "../theme";
import { useNow } from "../useNow";
import { useTopologyStore } from "../topologyStore";
import { NodeChaosActions } from "./NodeChaosActions";

function Row({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="flex justify-between gap-4 border-b border-slate-800 py-1.5 text-sm">
      <span className="text-slate-400">{label}</span>
      <span className="truncate text-right text-slate-100">{children}</span>
    </div>
  );
}

export function DetailsPanel() {
  const selection = useTopologyStore((s) => s.selection);
  const nodes = useTopologyStore((s) => s.nodes);
  const edges = useTopologyStore((s) => s.edges);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  const select = useTopologyStore((s) => s.select);
  const now = useNow(1000);
  // Nothing selected: the graph and the panels below get the whole width.
  if (!selection) return null;
  let body: ReactNode;
  let title = "";
  if (selection.kind === "node") {
    const n = nodesByName(nodes).get(selection.name);
    title = selection.name;
    const chaos = <NodeChaosActions key={selection.name} name={selection.name} processName={n?.processName ?? ""} />;
    body = !n ? (
      <>
        {chaos}
        <p className="text-sm text-slate-400">No instance of {selection.name} is registered right now.</p>
      </>
    ) : (
      <>
        {chaos}
        <Row label="state">
          <span style={{ color: stateColor[n.state] }}>{n.state}</span>
        </Row>
        <Row label="health">
          <span style={{ color: healthColor[n.health] }}>{n.health}</span>
          {n.healthMessage ? ` – ${n.healthMessage}` : ""}
        </Row>
        {n.deadReason && <Row label="dead because">{n.deadReason}</Row>}
        <Row label="language">{n.language}</Row>
        <Row label="type">{n.type}</Row>
        <Row label="instance">
          <span title={n.id} className="font-mono text-xs">{n.id.slice(0, 8)}…</span>
        </Row>
        <Row label="address">{n.address || "–"}</Row>
        <Row label="pid">{n.pid || "–"}</Row>
        <Row label="host">{n.host || "–"}</Row>
        <Row label="version">{n.version || "–"}</Row>
        <Row label="last heartbeat">{formatAge(now + offset - n.lastHeartbeatAtMs)} ago (#{n.lastSequence})</Row>
        <Row label="heartbeat every">{formatAge(n.heartbeatIntervalMs)}</Row>
        <Row label="up since">{formatAge(now + offset - n.registeredAtMs)}</Row>
        <Row label="restarts">{n.restartCount}</Row>
        <Row label="CPU">{n.cpuPercent !== undefined ? `${n.cpuPercent.toFixed(1)} %` : "–"}</Row>
        <Row label="RSS">{formatBytes(n.rssBytes)}</Row>
        <Row label="calls">{n.dependencies.join(", ") || "–"}</Row>
        {Object.entries(n.metadata).map(([k, v]) => (
          <Row key={k} label={k}>
            {v}
          </Row>
        ))}
      </>
    );
  } else {
    const e = edges[selection.id];
    title = selection.id.replace("->", " → ");
    body = !e ? (
      <p className="text-sm text-slate-400">This connection is gone.</p>
    ) : (
      <>
        <Row label="state">
          <span style={{ color: stateColor[e.state] }}>{e.state}</span>
        </Row>
        <Row label="declared">{e.declared ? "yes" : "no (seen in traffic)"}</Row>
        <Row label="requests">{formatRate(e.requestsPerSecond)}</Row>
        {e.itemsPerSecond > 0 && <Row label="items">{formatRate(e.itemsPerSecond, "items/s")}</Row>}
        <Row label="errors">{formatRate(e.errorsPerSecond, "err/s")}</Row>
        <Row label="latency avg">{e.latencyAvgMs.toFixed(2)} ms</Row>
        <Row label="latency max">{e.latencyMaxMs.toFixed(2)} ms</Row>
        <Row label="total requests">{e.totalRequests.toLocaleString("en-US")}</Row>
        <Row label="total errors">{e.totalErrors.toLocaleString("en-US")}</Row>
        {e.lastError && <Row label="last error">{e.lastError}</Row>}
        <Row label="methods">{e.methods.join(", ") || "–"}</Row>
      </>
    );
  }
  return (
    <aside data-testid="details-panel" className="w-80 shrink-0 overflow-y-auto border-l border-slate-800 p-4">
      <div className="mb-3 flex items-center justify-between">
        <h2 className="truncate text-base font-semibold text-slate-100">{title}</h2>
        <button className="rounded px-2 text-slate-400 hover:bg-slate-800 hover:text-slate-100" onClick={() => select(null)} aria-label="close details">
          ✕
        </button>
      </div>
      {body}
    </aside>
  );
}
