// The stream status every viewer can see: live, connecting, reconnecting (with the reason), paused.

import { streamStatusColor } from "../theme";
import { useTopologyStore } from "../topologyStore";

export function StatusIndicator() {
  const status = useTopologyStore((s) => s.status);
  const detail = useTopologyStore((s) => s.statusDetail);
  const color = streamStatusColor[status];
  return (
    <div data-testid="stream-status" data-status={status} className="flex items-center gap-2 text-sm" title={detail}>
      <span className="relative flex h-2.5 w-2.5">
        {status === "live" && (
          <span className="absolute inline-flex h-full w-full animate-ping rounded-full opacity-60" style={{ background: color }} />
        )}
        <span className="relative inline-flex h-2.5 w-2.5 rounded-full" style={{ background: color }} />
      </span>
      <span style={{ color }} className="font-medium">
        {status}
      </span>
      {status === "reconnecting" && detail && <span className="max-w-80 truncate text-xs text-slate-400">{detail}</span>}
    </div>
  );
}
