// The benchmark form: modes, input size, distribution, engine knobs, runs and the scaling sweep;
// Start and Cancel. Bad input is named under the form as it is typed; the server's refusal
// (another benchmark running, a bad argument) is shown verbatim.

import type { ReactNode } from "react";
import { useMemo } from "react";
import { BENCH_MODES, DISTRIBUTIONS, EVENT_PRESETS, parseCount, validateForm, type BenchFormValues, type Distribution } from "../benchForm";
import { useBenchActions } from "../useBenchActions";
import { useBenchStore } from "../benchStore";
import { benchModeColor } from "../theme";

const INPUT =
  "w-full rounded border border-slate-700 bg-slate-900 px-2 py-1 text-sm text-slate-100 tabular-nums disabled:opacity-50 focus:border-sky-500 focus:outline-none";

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="flex min-w-0 flex-col gap-1">
      <span className="truncate text-[11px] uppercase tracking-wide text-slate-400">{label}</span>
      {children}
    </label>
  );
}

export function BenchForm() {
  const form = useBenchStore((s) => s.form);
  const setForm = useBenchStore((s) => s.setForm);
  const running = useBenchStore((s) => s.running);
  const error = useBenchStore((s) => s.error);
  const { start, cancel } = useBenchActions();
  const result = useMemo(() => validateForm(form), [form]);
  const errors = result.ok ? {} : result.errors;
  const update = (patch: Partial<BenchFormValues>) => setForm({ ...form, ...patch });
  const text = (key: "events" | "batchSize" | "partitions" | "warmup" | "runs" | "scaling", testId: string, placeholder?: string) => (
    <input
      data-testid={testId}
      className={`${INPUT} ${key in errors ? "border-red-500" : ""}`}
      value={form[key]}
      placeholder={placeholder}
      disabled={running}
      inputMode={key === "scaling" ? "text" : "numeric"}
      onChange={(e) => update({ [key]: e.target.value })}
    />
  );
  const eventsNow = parseCount(form.events);

  return (
    <form
      data-testid="bench-form"
      className="flex flex-col gap-3"
      onSubmit={(e) => {
        e.preventDefault();
        if (result.ok && !running) void start(result.request);
      }}
    >
      <Field label="Modes">
        <div className="flex gap-3">
          {BENCH_MODES.map((m) => (
            <label key={m} className="flex cursor-pointer items-center gap-1.5 text-sm text-slate-200">
              <input
                type="checkbox"
                data-testid={`bench-mode-${m}`}
                checked={form.modes[m]}
                disabled={running}
                onChange={(e) => update({ modes: { ...form.modes, [m]: e.target.checked } })}
                className="h-4 w-4"
                style={{ accentColor: benchModeColor[m] }}
              />
              {m}
            </label>
          ))}
        </div>
      </Field>
      <Field label="Events">
        <div className="flex gap-1.5">
          {EVENT_PRESETS.map((p) => (
            <button
              type="button"
              key={p.events}
              data-testid={`bench-events-preset-${p.events}`}
              disabled={running}
              onClick={() => update({ events: String(p.events) })}
              className={`rounded border px-2 py-1 text-sm ${eventsNow === p.events ? "border-sky-400 text-sky-300" : "border-slate-700 text-slate-300 hover:border-slate-400"} disabled:opacity-50`}
            >
              {p.label}
            </button>
          ))}
          {text("events", "bench-events")}
        </div>
      </Field>
      <div className="grid grid-cols-3 gap-2">
        <Field label="Distribution">
          <select
            data-testid="bench-distribution"
            className={INPUT}
            value={form.distribution}
            disabled={running}
            onChange={(e) => update({ distribution: e.target.value as Distribution })}
          >
            {DISTRIBUTIONS.map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Batch size">{text("batchSize", "bench-batch-size")}</Field>
        <Field label="Partitions">{text("partitions", "bench-partitions")}</Field>
        <Field label="Warm-up runs">{text("warmup", "bench-warmup")}</Field>
        <Field label="Counted runs">{text("runs", "bench-runs")}</Field>
        <Field label="Scaling sweep">{text("scaling", "bench-scaling", "e.g. 1,2,4,8")}</Field>
      </div>
      <p className="-mt-1 text-[11px] leading-snug text-slate-500">
        0 = the engine's default (batch: 32,768 lines for both; partitions: monolith one per core, split 1). Scaling: partition counts to sweep on the
        monolith and the split, empty for none.
      </p>
      {!result.ok && (
        <ul data-testid="bench-form-error" className="text-xs text-red-400">
          {Object.values(result.errors).map((m) => (
            <li key={m}>{m}</li>
          ))}
        </ul>
      )}
      <div className="flex items-center gap-2">
        <button
          type="submit"
          data-testid="bench-start"
          disabled={!result.ok || running}
          className="rounded border border-emerald-500 bg-emerald-500/15 px-4 py-1.5 text-sm font-semibold text-emerald-300 hover:bg-emerald-500/25 disabled:cursor-not-allowed disabled:opacity-40"
        >
          {running ? "Running…" : "Start benchmark"}
        </button>
        <button
          type="button"
          data-testid="bench-cancel"
          disabled={!running}
          onClick={() => void cancel()}
          className="rounded border border-slate-600 px-3 py-1.5 text-sm text-slate-200 hover:border-red-400 hover:text-red-300 disabled:cursor-not-allowed disabled:opacity-40"
        >
          Cancel
        </button>
      </div>
      {error && (
        <div data-testid="bench-error" data-code={error.code} className="rounded border border-red-500/60 bg-red-500/10 px-2 py-1.5 text-xs text-red-300">
          <span className="font-semibold">
            {error.action} failed ({error.code}):
          </span>{" "}
          {error.message}
        </div>
      )}
    </form>
  );
}
