import { stateColor, type ViewState } from "../theme";

const states: ViewState[] = ["REGISTERED", "IDLE", "ACTIVE", "STALE", "DEAD"];

export function Legend() {
  return (
    <div className="flex flex-wrap items-center gap-3 text-xs text-slate-400">
      {states.map((s) => (
        <span key={s} className="flex items-center gap-1">
          <span className="inline-block h-2.5 w-2.5 rounded-full" style={{ background: stateColor[s] }} />
          {s.toLowerCase()}
        </span>
      ))}
    </div>
  );
}
