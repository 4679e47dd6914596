// The emergency stop: while any fault is active, a big red button in the header, in every view,
// that reverts them all at once.

import { useState } from "react";
import { useChaosStore } from "../chaosStore";
import { useChaosActions } from "../useChaosActions";

export function ClearAllFaults() {
  const count = useChaosStore((s) => s.faults.length);
  const { clearAll } = useChaosActions();
  const [busy, setBusy] = useState(false);
  if (count === 0) return null;
  return (
    <button
      data-testid="clear-all-faults"
      disabled={busy}
      onClick={async () => {
        setBusy(true);
        await clearAll();
        setBusy(false);
      }}
      title="Revert every active fault now"
      className="flex shrink-0 items-center gap-2 rounded-md border-2 border-red-400 bg-red-600 px-4 py-1.5 text-base font-bold uppercase tracking-wide text-white shadow-[0_0_0_4px_rgba(239,68,68,0.25)] hover:bg-red-500 disabled:opacity-60"
    >
      <span className="inline-block h-3 w-3 rounded-sm bg-white" />
      {busy ? "Clearing…" : "Clear all faults"}
      <span className="rounded bg-red-900/70 px-1.5 text-sm tabular-nums">{count}</span>
    </button>
  );
}
