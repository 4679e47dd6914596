// Chaos on the selected node: Kill, Add latency, Inject errors, aimed at the node's supervised
// process, with the process's state beside them and the server's answer (or refusal) below.

import { useState } from "react";
import { chaosTargetFor, NODE_ACTIONS, nodeActionRequest } from "../chaosPresets";
import { useProcessStore } from "../processStore";
import { processStateColor } from "../theme";
import { useChaosActions, type ActionResult } from "../useChaosActions";

export function NodeChaosActions({ name, processName }: { name: string; processName: string }) {
  const processes = useProcessStore((s) => s.processes);
  const { inject } = useChaosActions();
  const [busy, setBusy] = useState("");
  const [result, setResult] = useState<ActionResult | null>(null);
  const target = chaosTargetFor({ name, processName }, processes);
  const proc = processes.find((p) => p.name === target);
  return (
    <div data-testid="node-chaos" data-target={target} data-state={proc?.state ?? ""} data-restarts={proc?.restarts ?? ""} className="mb-3 rounded-lg border border-slate-800 bg-slate-900/60 p-2.5">
      <div className="mb-2 flex items-baseline gap-2 text-xs">
        <span className="font-semibold uppercase tracking-wide text-slate-400">Chaos</span>
        {target ? (
          <span className="text-slate-300">
            process <span className="font-semibold text-slate-100">{target}</span>
            {proc && (
              <>
                {" · "}
                <span data-testid="node-chaos-process-state" style={{ color: processStateColor[proc.state] ?? processStateColor.UNKNOWN }}>
                  {proc.state}
                </span>
                {proc.pid > 0 && ` · pid ${proc.pid}`} · restarts {proc.restarts}
              </>
            )}
          </span>
        ) : (
          <span className="text-slate-500">not a process of the config file: nothing to target</span>
        )}
      </div>
      <div className="grid grid-cols-3 gap-1.5">
        {NODE_ACTIONS.map((a) => (
          <button
            key={a.id}
            data-testid={`node-chaos-${a.id}`}
            disabled={!target || busy !== ""}
            onClick={async () => {
              setBusy(a.id);
              setResult(await inject(nodeActionRequest(a, target), `${a.label} ${target}`));
              setBusy("");
            }}
            className={`flex flex-col items-center rounded-md border px-1 py-1.5 text-sm font-semibold disabled:cursor-not-allowed disabled:opacity-35 ${
              a.id === "kill" ? "border-red-500 bg-red-500/10 text-red-200 hover:bg-red-500/25" : "border-amber-500/60 text-amber-200 hover:bg-amber-500/10"
            }`}
          >
            {busy === a.id ? "…" : a.label}
            {"hint" in a && <span className="text-[10px] font-normal text-slate-400">{a.hint}</span>}
          </button>
        ))}
      </div>
      {result && (
        <div data-testid="node-chaos-message" data-ok={result.ok} className={`mt-2 text-xs ${result.ok ? "text-slate-300" : "text-red-300"}`}>
          {result.text}
        </div>
      )}
    </div>
  );
}
