import { useState } from "react";
import { ReactFlowProvider } from "@xyflow/react";
import { BenchmarkView } from "./components/BenchmarkView";
import { ChaosPanel } from "./components/ChaosPanel";
import { ClearAllFaults } from "./components/ClearAllFaults";
import { DetailsPanel } from "./components/DetailsPanel";
import { LogsPanel } from "./components/LogsPanel";
import { BottomTabs } from "./components/BottomTabs";
import { Legend } from "./components/Legend";
import { StatusIndicator } from "./components/StatusIndicator";
import { TopologyGraph } from "./components/TopologyGraph";
import { nodesByName } from "./graphModel";
import { useChaosStore } from "./chaosStore";
import { useTopologyStore } from "./topologyStore";
import { useFaultStream } from "./useFaultStream";
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
    <div data-testid="counts" className="whitespace-nowrap text-sm text-slate-400">
      <span className="text-slate-100">{live}</span> services · <span className="text-slate-100">{active}</span> active connections
    </div>
  );
}

type View = "topology" | "bench";

/** The view is in the URL (?view=bench), so a shared link opens the same page. */
function viewFromUrl(): View {
  return new URLSearchParams(window.location.search).get("view") === "bench" ? "bench" : "topology";
}

function writeView(view: View): void {
  const p = new URLSearchParams(window.location.search);
  if (view === "topology") {
    p.delete("view");
    p.delete("run");
  } else p.set("view", view);
  const s = p.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${s ? `?${s}` : ""}${window.location.hash}`);
}

/** The Chaos panel beside the graph is in the URL too (?chaos=1). */
function chaosFromUrl(): boolean {
  return new URLSearchParams(window.location.search).get("chaos") === "1";
}

function writeChaos(open: boolean): void {
  const p = new URLSearchParams(window.location.search);
  if (open) p.set("chaos", "1");
  else p.delete("chaos");
  const s = p.toString();
  window.history.replaceState(null, "", `${window.location.pathname}${s ? `?${s}` : ""}${window.location.hash}`);
}

function ChaosToggle({ open, onChange }: { open: boolean; onChange: (open: boolean) => void }) {
  return (
    <button
      data-testid="chaos-toggle"
      aria-pressed={open}
      onClick={() => onChange(!open)}
      className={`whitespace-nowrap rounded-md border px-3 py-1 text-sm font-medium ${open ? "border-amber-400 bg-amber-500/15 text-amber-200" : "border-slate-700 text-slate-300 hover:border-amber-400 hover:text-amber-200"}`}
    >
      ⚡ Chaos
    </button>
  );
}

function ViewSwitch({ view, onChange }: { view: View; onChange: (v: View) => void }) {
  const button = (v: View, label: string) => (
    <button
      data-testid={`view-${v}`}
      aria-pressed={view === v}
      onClick={() => onChange(v)}
      className={`rounded px-3 py-1 text-sm font-medium ${view === v ? "bg-slate-700 text-slate-50" : "text-slate-400 hover:text-slate-200"}`}
    >
      {label}
    </button>
  );
  return (
    <div className="flex gap-1 rounded-md border border-slate-800 bg-slate-900 p-0.5">
      {button("topology", "Topology")}
      {button("bench", "Benchmark")}
    </div>
  );
}

export function App() {
  useTopologyStream();
  useProcessStream();
  useUrlSelection();
  useFaultStream();
  const [view, setView] = useState<View>(viewFromUrl);
  const [chaos, setChaos] = useState(chaosFromUrl);
  const faultsActive = useChaosStore((s) => s.faults.length > 0);
  const choose = (v: View) => {
    setView(v);
    writeView(v);
  };
  const toggleChaos = (open: boolean) => {
    setChaos(open);
    writeChaos(open);
  };
  return (
    <div className="flex h-full flex-col">
      <header className="flex items-center gap-6 border-b border-slate-800 px-5 py-3">
        <h1 className="whitespace-nowrap text-lg font-semibold tracking-tight text-slate-100">
          modular-runtime <span className="font-normal text-slate-400">· {view === "bench" ? "benchmark" : "topology"}</span>
        </h1>
        <ViewSwitch view={view} onChange={choose} />
        {view === "topology" && <ChaosToggle open={chaos} onChange={toggleChaos} />}
        <StatusIndicator />
        <Counts />
        <div className="ml-auto flex items-center gap-4">
          <ClearAllFaults />
          {/* While faults are active the emergency stop takes the legend's place. */}
          {view === "topology" && !faultsActive && <Legend />}
        </div>
      </header>
      {view === "bench" ? (
        <main className="flex min-h-0 flex-1">
          <BenchmarkView />
        </main>
      ) : chaos ? (
        // Chaos: the graph keeps the whole width (the chain reads from the back of the room), the
        // details beside it, the Chaos strip below in place of the Services, Load and Logs panels.
        <main className="flex min-h-0 flex-1 flex-col">
          <div className="flex min-h-0 flex-[5]">
            <div className="min-w-0 flex-1">
              <ReactFlowProvider>
                <TopologyGraph />
              </ReactFlowProvider>
            </div>
            <DetailsPanel />
          </div>
          <div className="flex min-h-0 flex-[4] flex-col">
            <ChaosPanel />
          </div>
        </main>
      ) : (
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
      )}
    </div>
  );
}
