// Owns the WatchTopology stream: cancellation, capped reconnect backoff and the visible
// live / reconnecting / paused status.

import { ConnectError, type Client } from "@connectrpc/connect";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";
import { toEdgeView, toNodeView } from "./adapters";
import type { TopologyState } from "./topologyStore";

export const FIRST_RETRY_MS = 250;
export const MAX_RETRY_MS = 5000;

/** Backoff after `failures` consecutive failures: 250 ms doubling, capped at 5 s. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

type Store = Pick<TopologyState, "apply" | "setStatus">;

export class TopologyStreamController {
  private abort?: AbortController;
  private running = false;

  constructor(
    private readonly client: Client<typeof TopologyService>,
    private readonly store: () => Store,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  /** Stops the stream; the graph stays as it was and the status says "paused". */
  pause(): void {
    this.stop();
    this.store().setStatus("paused");
  }

  stop(): void {
    this.running = false;
    this.abort?.abort();
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (this.running) {
      const abort = new AbortController();
      this.abort = abort;
      this.store().setStatus(failures === 0 ? "connecting" : "reconnecting");
      try {
        for await (const u of this.client.watchTopology({}, { signal: abort.signal })) {
          failures = 0;
          this.store().apply({
            fullSnapshot: u.fullSnapshot,
            nodes: u.nodes.map(toNodeView),
            removedNodeIds: u.removedNodeIds,
            edges: u.edges.map(toEdgeView),
            removedEdgeIds: u.removedEdgeIds,
            serverTimeMs: Number(u.serverTimeMs),
            receivedAtMs: Date.now(),
          });
          this.store().setStatus("live");
        }
        if (!this.running) return;
        failures++;
      } catch (err) {
        if (!this.running) return;
        failures++;
        const delay = retryDelay(failures);
        this.store().setStatus("reconnecting", `${ConnectError.from(err).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
      }
      await new Promise((r) => setTimeout(r, retryDelay(failures)));
    }
  }
}
