// The Chaos panel's calls: inject, clear one, clear all. Each resolves to the text to show, the
// server's own message when it refuses (NOT_FOUND for an unknown process, FAILED_PRECONDITION
// for a network fault on a process without a fault proxy, …), and records it in the store.

import { useCallback } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { ChaosService } from "@modular-runtime/proto/runtime/v1/chaos";
import { toFaultView } from "./chaosAdapters";
import type { FaultRequest } from "./chaosPresets";
import { useChaosStore } from "./chaosStore";
import { useClient } from "./useClient";

export interface ActionResult {
  ok: boolean;
  text: string;
}

function refused(what: string, err: unknown): ActionResult {
  const e = ConnectError.from(err);
  const code = Code[e.code] ?? String(e.code);
  return { ok: false, text: `${what} refused: ${e.rawMessage} (${code.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()})` };
}

export function useChaosActions() {
  const client = useClient(ChaosService);
  const done = useCallback((r: ActionResult): ActionResult => {
    useChaosStore.getState().setMessage({ text: r.text, error: !r.ok });
    return r;
  }, []);

  const inject = useCallback(
    async (req: FaultRequest, what: string): Promise<ActionResult> => {
      try {
        const res = await client.injectFault(req);
        const f = res.fault ? toFaultView(res.fault) : null;
        return done({ ok: true, text: `${what}: ${f?.description || "done"}` });
      } catch (err) {
        return done(refused(what, err));
      }
    },
    [client, done],
  );

  const clear = useCallback(
    async (id: string, what: string): Promise<ActionResult> => {
      try {
        await client.clearFault({ id });
        return done({ ok: true, text: `cleared ${what}` });
      } catch (err) {
        return done(refused(`clear ${what}`, err));
      }
    },
    [client, done],
  );

  const clearAll = useCallback(async (): Promise<ActionResult> => {
    try {
      const res = await client.clearAllFaults({});
      return done({ ok: true, text: `all faults cleared (${res.cleared})` });
    } catch (err) {
      return done(refused("clear all", err));
    }
  }, [client, done]);

  return { inject, clear, clearAll };
}
