// The Chaos panel, a strip under the live graph (the graph keeps the whole width, so the chain
// stays readable): the pipeline run to watch through a fault with its timeline, the verdict on
// its checksum, the faults active now with a live countdown and a Clear each, one-click presets
// aimed at the processes the supervisor lists, and a small form for anything else. The emergency
// stop (Clear all) is in the header, visible from every view while a fault is active.

import { useState, type ReactNode } from "react";
import { FaultType } from "@modular-runtime/proto/runtime/v1/chaos";
import { FAULT_TYPE_LABEL, faultParamText, formatCountdown, type FaultTypeName, type FaultView } from "../chaosAdapters";
import { CHAOS_PRESETS, CUSTOM_TYPES, PARAM_SPEC, customFaultRequest, resolvePreset, type CustomFaultForm } from "../chaosPresets";
import { useChaosStore } from "../chaosStore";
import { useProcessStore } from "../processStore";
import { faultEventColor, streamStatusColor } from "../theme";
import { useChaosActions } from "../useChaosActions";
import { useNow } from "../useNow";
import { useTopologyStore } from "../topologyStore";
import { ChaosRunCard, ChaosVerdictCard } from "./ChaosRunCard";

function Section({ title, children, right }: { title: string; children: ReactNode; right?: ReactNode }) {
  return (
    <section className="flex flex-col gap-2">
      <div className="flex items-center gap-2">
        <h3 className="text-xs font-semibold uppercase tracking-wide text-slate-400">{title}</h3>
        {right}
      </div>
      {children}
    </section>
  );
}

function FaultRow({ f, now }: { f: FaultView; now: number }) {
  const { clear } = useChaosActions();
  const [busy, setBusy] = useState(false);
  const what = `${faultParamText(f.type, f.params)} on ${f.target}`;
  return (
    <li data-testid="active-fault" data-fault-id={f.id} data-type={f.type} className="flex items-center gap-2 rounded-md border border-amber-500/40 bg-amber-500/5 px-2 py-1">
      <div className="min-w-0 flex-1" title={f.description}>
        <div className="truncate text-sm font-semibold text-slate-100">{f.target}</div>
        <div className="truncate text-xs text-slate-400">
          <span className="text-sm font-semibold text-amber-300">{faultParamText(f.type, f.params)}</span>
          {f.affected > 0 && ` · ${f.affected.toLocaleString("en-US")} affected`}
        </div>
      </div>
      <span data-testid="fault-countdown" className={`shrink-0 whitespace-nowrap tabular-nums ${f.expiresAtMs > 0 ? "text-lg font-semibold text-slate-100" : "text-sm text-amber-200"}`}>
        {formatCountdown(f.expiresAtMs, now)}
      </span>
      <button
        data-testid={`clear-fault-${f.id}`}
        disabled={busy}
        onClick={async () => {
          setBusy(true);
          await clear(f.id, what);
          setBusy(false);
        }}
        className="shrink-0 rounded border border-slate-600 px-2 py-0.5 text-xs text-slate-200 hover:border-emerald-400 hover:text-emerald-300 disabled:opacity-40"
      >
        Clear
      </button>
    </li>
  );
}

function ActiveFaults() {
  const faults = useChaosStore((s) => s.faults);
  const offset = useTopologyStore((s) => s.clockOffsetMs);
  // The countdown runs on the server's clock (expires_at_ms is the server's).
  const now = useNow(250) + offset;
  return (
    <Section title={`Active faults (${faults.length})`}>
      <ul data-testid="active-faults" data-count={faults.length} className="flex flex-col gap-1.5">
        {faults.length === 0 && <li className="text-sm text-slate-500">None. The system runs as configured.</li>}
        {faults.map((f) => (
          <FaultRow key={f.id} f={f} now={now} />
        ))}
      </ul>
    </Section>
  );
}

function Presets() {
  const processes = useProcessStore((s) => s.processes);
  const { inject } = useChaosActions();
  const [busy, setBusy] = useState("");
  return (
    <Section title="Presets">
      <div className="grid grid-cols-2 gap-1">
        {CHAOS_PRESETS.map((p) => {
          const r = resolvePreset(p, processes);
          const crash = r.ok && r.request.type === FaultType.CRASH;
          return (
            <button
              key={p.id}
              data-testid={`preset-${p.id}`}
              disabled={!r.ok || busy !== ""}
              title={r.ok ? `target: ${r.target}` : `disabled: ${r.reason}`}
              onClick={async () => {
                // Resolved again at the click: "random" picks now, from the processes running now.
                const now = resolvePreset(p, useProcessStore.getState().processes);
                if (!now.ok) return;
                setBusy(p.id);
                await inject(now.request, now.label);
                setBusy("");
              }}
              className={`rounded-md border px-2 py-1 text-left text-xs leading-tight disabled:cursor-not-allowed disabled:opacity-35 ${
                crash ? "border-red-500/60 text-red-200 hover:bg-red-500/10" : "border-slate-700 text-slate-200 hover:border-amber-400 hover:bg-amber-500/5"
              }`}
            >
              {busy === p.id ? "…" : r.label}
            </button>
          );
        })}
      </div>
    </Section>
  );
}

function CustomForm() {
  const processes = useProcessStore((s) => s.processes);
  const { inject } = useChaosActions();
  const [form, setForm] = useState<CustomFaultForm>({ target: "", type: "DELAY", param: PARAM_SPEC.DELAY!.default, durationSeconds: "30" });
  const [busy, setBusy] = useState(false);
  const target = form.target || processes[0]?.name || "";
  const parsed = customFaultRequest({ ...form, target });
  const spec = PARAM_SPEC[form.type];
  const input = "w-full min-w-0 rounded border border-slate-700 bg-slate-900 px-1.5 py-1 text-sm text-slate-100 disabled:opacity-40";
  return (
    <Section title="Custom fault">
      <div className="grid grid-cols-[minmax(0,7fr)_minmax(0,5fr)_minmax(0,4fr)_minmax(0,4fr)] gap-1 text-xs text-slate-400">
        <label className="flex min-w-0 flex-col gap-0.5">
          target
          <select data-testid="chaos-custom-target" value={target} onChange={(e) => setForm({ ...form, target: e.target.value })} className={input}>
            {processes.length === 0 && <option value="">no processes</option>}
            {processes.map((p) => (
              <option key={p.name} value={p.name}>
                {p.name}
              </option>
            ))}
          </select>
        </label>
        <label className="flex min-w-0 flex-col gap-0.5">
          type
          <select
            data-testid="chaos-custom-type"
            value={form.type}
            onChange={(e) => {
              const type = e.target.value as FaultTypeName;
              setForm({ ...form, type, param: PARAM_SPEC[type]?.default ?? "" });
            }}
            className={input}
          >
            {CUSTOM_TYPES.map((t) => (
              <option key={t} value={t}>
                {FAULT_TYPE_LABEL[t]}
              </option>
            ))}
          </select>
        </label>
        <label className="flex min-w-0 flex-col gap-0.5 whitespace-nowrap">
          {spec ? `${spec.label}${spec.unit ? ` ${spec.unit}` : ""}` : "–"}
          <input data-testid="chaos-custom-param" disabled={!spec} value={spec ? form.param : ""} onChange={(e) => setForm({ ...form, param: e.target.value })} className={input} />
        </label>
        <label className="flex min-w-0 flex-col gap-0.5 whitespace-nowrap" title="0 = until cleared">
          seconds
          <input
            data-testid="chaos-custom-duration"
            disabled={form.type === "CRASH"}
            value={form.type === "CRASH" ? "" : form.durationSeconds}
            onChange={(e) => setForm({ ...form, durationSeconds: e.target.value })}
            className={input}
          />
        </label>
      </div>
      <div className="flex items-center gap-2">
        <button
          data-testid="chaos-custom-inject"
          disabled={!parsed.request || busy}
          onClick={async () => {
            if (!parsed.request) return;
            setBusy(true);
            const f = parsed.request;
            const what = form.type === "CRASH" ? `kill ${target}` : `${FAULT_TYPE_LABEL[form.type]} on ${target}`;
            await inject(f, what);
            setBusy(false);
          }}
          className="rounded border border-amber-500 bg-amber-500/10 px-3 py-1 text-sm font-semibold text-amber-200 hover:bg-amber-500/20 disabled:cursor-not-allowed disabled:opacity-40"
        >
          {busy ? "…" : form.type === "CRASH" ? "Kill" : "Inject"}
        </button>
        {parsed.error ? (
          <span data-testid="chaos-custom-error" className="text-xs text-red-300">
            {parsed.error}
          </span>
        ) : (
          form.type !== "CRASH" && <span className="text-xs text-slate-500">0 seconds = until cleared</span>
        )}
      </div>
    </Section>
  );
}

export function ChaosPanel() {
  const status = useChaosStore((s) => s.status);
  const detail = useChaosStore((s) => s.statusDetail);
  const message = useChaosStore((s) => s.message);
  return (
    <section
      data-testid="chaos-panel"
      className="grid min-h-0 flex-1 grid-cols-[minmax(0,9fr)_minmax(0,6fr)_minmax(0,6fr)] border-t-2 border-amber-500/40 bg-slate-950"
    >
      <div className="flex min-h-0 flex-col gap-1 p-3">
        <div className="flex items-center gap-2">
          <h2 className="text-base font-semibold text-amber-200">⚡ Chaos</h2>
          <span data-testid="chaos-stream-status" className="text-xs" style={{ color: streamStatusColor[status] }} title={detail}>
            {status}
          </span>
          {status === "reconnecting" && detail && <span className="truncate text-xs text-slate-500">{detail}</span>}
        </div>
        <div className="min-h-0 flex-1">
          <ChaosRunCard />
        </div>
      </div>
      <div className="flex min-h-0 flex-col gap-3 overflow-y-auto border-l border-slate-800 p-3">
        <ChaosVerdictCard />
        {message && (
          <div
            data-testid="chaos-message"
            className={`rounded px-2 py-1 text-sm ${message.error ? "bg-red-950/60 text-red-200" : "text-slate-300"}`}
            style={message.error ? undefined : { borderLeft: `3px solid ${faultEventColor.injected}` }}
          >
            {message.text}
          </div>
        )}
        <ActiveFaults />
      </div>
      <div className="flex min-h-0 flex-col gap-3 overflow-y-auto border-l border-slate-800 p-3">
        <Presets />
        <CustomForm />
      </div>
    </section>
  );
}
