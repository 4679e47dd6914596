import { useState } from "react";
import { ReactFlowProvider } from "@xyflow/react";
import { BenchmarkView } from "./components/BenchmarkView";
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
  const [view, setView] = useState<View>(viewFromUrl);
  const choose = (v: View) => {
    setView(v);
    writeView(v);
  };
  return (
    <div className="flex h-full flex-col">
      <header className="flex items-center gap-6 border-b border-slate-800 px-5 py-3">
        <h1 className="text-lg font-semibold tracking-tight text-slate-100">
          modular-runtime <span className="font-normal text-slate-400">· {view === "bench" ? "benchmark" : "topology"}</span>
        </h1>
        <ViewSwitch view={view} onChange={choose} />
        <StatusIndicator />
        <Counts />
        {view === "topology" && (
          <div className="ml-auto">
            <Legend />
          </div>
        )}
      </header>
      {view === "bench" ? (
        <main className="flex min-h-0 flex-1">
          <BenchmarkView />
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
