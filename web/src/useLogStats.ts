import { useEffect } from "react";
import { LoggerService } from "@modular-runtime/proto/runtime/v1/logger";
import { toLogStatsView } from "./logAdapters";
import { useLogStore } from "./logStore";
import { useClient } from "./useClient";

export const STATS_INTERVAL_MS = 2000;

/** Polls GetLogStats so the panel's drop and truncation counters are never stale for long. */
export function useLogStats(): void {
  const client = useClient(LoggerService);
  useEffect(() => {
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const r = await client.getLogStats({}, { signal: abort.signal });
        useLogStore.getState().setStats(toLogStatsView(r));
      } catch {
        // The stream's status already says the server is unreachable; keep the last counters.
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void poll(), STATS_INTERVAL_MS);
    };
    void poll();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [client]);
}
