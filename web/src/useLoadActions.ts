import { useCallback } from "react";
import { ConnectError } from "@connectrpc/connect";
import { LoadGeneratorService } from "@modular-runtime/proto/runtime/v1/load";
import { useLoadStore } from "./loadStore";
import { useClient } from "./useClient";

export interface StartArgs {
  target: string;
  rate: number;
  durationSeconds: number;
  concurrency: number;
  label: string;
}

/** Start and stop. A start is detached: the panel follows it through WatchLoadTests, so no
 *  browser connection is held per test (HTTP/1.1 allows only six per host). */
export function useLoadActions() {
  const client = useClient(LoadGeneratorService);
  const setMessage = useLoadStore((s) => s.setActionMessage);
  const start = useCallback(
    async (a: StartArgs) => {
      const abort = new AbortController();
      try {
        for await (const m of client.startLoad(
          { targetService: a.target, requestsPerSecond: a.rate, durationSeconds: a.durationSeconds, concurrentClients: a.concurrency, label: a.label, detach: true },
          { signal: abort.signal },
        )) {
          useLoadStore.getState().select(m.testId, false);
          setMessage({ text: `started ${a.rate} req/s against ${a.target} for ${a.durationSeconds} s`, error: false });
          abort.abort();
        }
      } catch (err) {
        const e = ConnectError.from(err);
        if (!abort.signal.aborted) setMessage({ text: `start: ${e.rawMessage}`, error: true });
      }
    },
    [client, setMessage],
  );
  const stop = useCallback(
    async (id: string) => {
      try {
        const s = await client.stopLoad({ testId: id });
        setMessage({ text: `stopped after ${s.totalRequests} requests`, error: false });
      } catch (err) {
        setMessage({ text: `stop: ${ConnectError.from(err).rawMessage}`, error: true });
      }
    },
    [client, setMessage],
  );
  return { start, stop };
}
