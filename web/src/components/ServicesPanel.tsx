// Every supervised process with its state, pid, restarts, uptime, CPU and RSS, and the
// start / stop / restart buttons. A FATAL process gets a banner nobody can miss.

import { useState } from "react";
import { ConnectError } from "@connectrpc/connect";
import { SupervisorService } from "@modular-runtime/proto/runtime/v1/supervisor";
import { formatBytes } from "../adapters";
import { allowedActions, formatUptime, type ProcessView } from "../processAdapters";
import { useProcessStore } from "../processStore";
import { processStateColor, streamStatusColor } from "../theme";
import { useClient } from "../useClient";
import { useNow } from "../useNow";
import { useTopologyStore } from "../topologyStore";

type Action = "start" | "stop" | "restart";

function ActionButton({ label, disabled, busy, onClick, testId }: { label: string; disabled: boolean; busy: boolean; onClick: () => void; testId: string }) {
  return (
    <button
      data-testid={testId}
      disabled={disabled || busy}
      onClick={onClick}
      className="rounded border border-slate-700 px-2 py-0.5 text-xs text-slate-200 hover:border-slate-400 hover:bg-slate-800 disabled:cursor-not-allowed disabled:opacity-30"
    >
      {busy ? "…" : label}
    </button>
  );
}

function Row({ p, now, offset }: { p: ProcessView; now: number; offset: number }) {
  const client = useClient(SupervisorService);
  const setMessage = useProcessStore((s) => s.setActionMessage);
  const [busy, setBusy] = useState<Action | null>(null);
  const allowed = allowedActions(p.state);
  const act = async (action: Action) => {
    setBusy(action);
    try {
      if (action === "start") await client.startProcess({ name: p.name });
      if (action === "stop") await client.stopProcess({ name: p.name });
      if (action === "restart") await client.restartProcess({ name: p.name });
      setMessage({ text: `${action} ${p.name}: done`, error: false });
    } catch (err) {
      setMessage({ text: `${action} ${p.name}: ${ConnectError.from(err).rawMessage}`, error: true });
    } finally {
      setBusy(null);
    }
  };
  const color = processStateColor[p.state] ?? processStateColor.UNKNOWN;
  // Uptime ticks locally between stream messages.
  const uptime = p.startedAtMs > 0 ? now + offset - p.startedAtMs : 0;
  const backoffLeft = p.state === "BACKOFF" ? Math.max(0, p.nextStartAtMs - (now + offset)) : 0;
  return (
    <tr data-testid={`process-${p.name}`} data-state={p.state} className="border-b border-slate-800/70">
      <td className="py-1.5 pr-3">
        <div className="flex items-center gap-2">
          <span className="inline-block h-2.5 w-2.5 shrink-0 rounded-full" style={{ background: color }} />
          <span className="font-medium text-slate-100">{p.name}</span>
        </div>
      </td>
      <td className="pr-3">
        <span data-testid="process-state" className="rounded px-1.5 py-0.5 text-[11px] font-semibold text-slate-950" style={{ background: color }}>
          {p.state}
        </span>
        {backoffLeft > 0 && <span className="ml-1 text-[11px] text-amber-300">{(backoffLeft / 1000).toFixed(1)} s</span>}
      </td>
      <td className="pr-3 text-right tabular-nums" data-testid="process-pid">{p.pid || "–"}</td>
      <td className="pr-3 text-right tabular-nums" data-testid="process-restarts">{p.restarts}</td>
      <td className="pr-3 text-right tabular-nums">{formatUptime(uptime)}</td>
      <td className="pr-3 text-right tabular-nums">{p.pid ? `${p.cpuPercent.toFixed(1)} %` : "–"}</td>
      <td className="pr-3 text-right tabular-nums">{p.pid ? formatBytes(p.rssBytes) : "–"}</td>
      <td className="max-w-40 truncate pr-3 text-slate-400" title={p.lastExit}>{p.lastExit || "–"}</td>
      <td className="whitespace-nowrap">
        <div className="flex gap-1">
          <ActionButton testId={`start-${p.name}`} label="Start" disabled={!allowed.start} busy={busy === "start"} onClick={() => void act("start")} />
          <ActionButton testId={`stop-${p.name}`} label="Stop" disabled={!allowed.stop} busy={busy === "stop"} onClick={() => void act("stop")} />
          <ActionButton testId={`restart-${p.name}`} label="Restart" disabled={!allowed.restart} busy={busy === "restart"} onClick={() => void act("restart")} />
        </div>
      </td>
    </tr>
  );
}

export function ServicesPanel() {
  const processes = useProcessStore((s) => s.processes);
  const status = useProcessStore((s) => s.status);
  const message = useProcessStore((s) => s.actionMessage);
  const now = useNow(1000);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  const fatal = processes.filter((p) => p.state === "FATAL");
  return (
    <section data-testid="services-panel" className="flex min-h-0 flex-col">
      <div className="flex items-center gap-3 px-4 py-2">
        <span className="text-xs" style={{ color: streamStatusColor[status] }}>
          {status}
        </span>
        <span className="text-xs text-slate-500">{processes.length} processes from runtime.yaml</span>
      </div>
      {fatal.map((p) => (
        <div key={p.name} data-testid="fatal-banner" className="mx-4 mb-2 rounded-md border border-red-500 bg-red-950/80 px-3 py-2 text-sm font-semibold text-red-200">
          FATAL · {p.name}: {p.fatalReason}. Fix it, then press Start.
        </div>
      ))}
      <div className="min-h-0 flex-1 overflow-auto px-4">
        <table className="w-full text-xs text-slate-300">
          <thead className="sticky top-0 bg-slate-950 text-left text-[11px] uppercase tracking-wide text-slate-500">
            <tr>
              <th className="py-1 pr-3 font-medium">process</th>
              <th className="pr-3 font-medium">state</th>
              <th className="pr-3 text-right font-medium">pid</th>
              <th className="pr-3 text-right font-medium">restarts</th>
              <th className="pr-3 text-right font-medium">uptime</th>
              <th className="pr-3 text-right font-medium">CPU</th>
              <th className="pr-3 text-right font-medium">RSS</th>
              <th className="pr-3 font-medium">last exit</th>
              <th className="font-medium" />
            </tr>
          </thead>
          <tbody>
            {processes.map((p) => (
              <Row key={p.name} p={p} now={now} offset={offset} />
            ))}
          </tbody>
        </table>
      </div>
      {message && (
        <div data-testid="action-message" className={`px-4 py-1.5 text-xs ${message.error ? "text-red-300" : "text-slate-400"}`}>
          {message.text}
        </div>
      )}
    </section>
  );
}
