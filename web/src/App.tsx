import { ReactFlowProvider } from "@xyflow/react";
import { DetailsPanel } from "./components/DetailsPanel";
import { LogsPanel } from "./components/LogsPanel";
import { BottomTabs } from "./components/BottomTabs";
import { Legend } from "./components/Legend";
import { StatusIndicator } from "./components/StatusIndicator";
import { TopologyGraph } from "./components/TopologyGraph";
import { nodesByName } from "./graphModel";
import { useTopologyStore } from "./topologyStore";
import { useProcessStream } from "./useProcessStream";
import { useTopologyStream } from "./useTopologyStream";
import { useUrlSelection } from "./useUrlSelection";

function Counts() {
  const nodes = useTopologyStore((s) => s.nodes);
  const edges = useTopologyStore((s) => s.edges);
  const byName = nodesByName(nodes);
  const live = [...byName.values()].filter((n) => n.state !== "DEAD").length;
  const active = Object.values(edges).filter((e) => e.state === "ACTIVE").length;
  return (
    <div data-testid="counts" className="text-sm text-slate-400">
      <span className="text-slate-100">{live}</span> services · <span className="text-slate-100">{active}</span> active connections
    </div>
  );
}

export function App() {
  useTopologyStream();
  useProcessStream();
  useUrlSelection();
  return (
    <div className="flex h-full flex-col">
      <header className="flex items-center gap-6 border-b border-slate-800 px-5 py-3">
        <h1 className="text-lg font-semibold tracking-tight text-slate-100">
          modular-runtime <span className="font-normal text-slate-400">· topology</span>
        </h1>
        <StatusIndicator />
        <Counts />
        <div className="ml-auto">
          <Legend />
        </div>
      </header>
      <main className="flex min-h-0 flex-1">
        <div className="flex min-w-0 flex-1 flex-col">
          <div className="min-h-0 flex-[3]">
            <ReactFlowProvider>
              <TopologyGraph />
            </ReactFlowProvider>
          </div>
          <div className="grid min-h-0 flex-[2] grid-cols-[minmax(0,11fr)_minmax(0,9fr)] border-t border-slate-800 bg-slate-950">
            <BottomTabs />
            <div className="min-h-0 border-l border-slate-800">
              <LogsPanel />
            </div>
          </div>
        </div>
        <DetailsPanel />
      </main>
    </div>
  );
}
