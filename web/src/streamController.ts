// Owns one server stream: cancellation, capped reconnect backoff (250 ms doubling to 5 s) and
// the visible connecting / live / reconnecting / paused status. Every live view uses one.

import { ConnectError } from "@connectrpc/connect";

export type StreamStatus = "connecting" | "live" | "reconnecting" | "paused";

export const FIRST_RETRY_MS = 250;
export const MAX_RETRY_MS = 5000;

/** Backoff after `failures` consecutive failures: 250 ms doubling, capped at 5 s. */
export function retryDelay(failures: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failures - 1));
}

export interface StreamHandlers<T> {
  /** Opens the stream; called again after every failure. */
  open(signal: AbortSignal): AsyncIterable<T>;
  onMessage(message: T): void;
  onStatus(status: StreamStatus, detail: string): void;
}

export class StreamController<T> {
  private abort?: AbortController;
  private running = false;

  constructor(private readonly handlers: StreamHandlers<T>) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    void this.loop();
  }

  /** Stops the stream and says "paused"; what was received stays. */
  pause(): void {
    this.stop();
    this.handlers.onStatus("paused", "");
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
      this.handlers.onStatus(failures === 0 ? "connecting" : "reconnecting", "");
      try {
        for await (const m of this.handlers.open(abort.signal)) {
          failures = 0;
          this.handlers.onMessage(m);
          this.handlers.onStatus("live", "");
        }
        if (!this.running) return;
        failures++;
        this.handlers.onStatus("reconnecting", "the stream ended");
      } catch (err) {
        if (!this.running) return;
        failures++;
        const delay = retryDelay(failures);
        this.handlers.onStatus("reconnecting", `${ConnectError.from(err).message}; retrying in ${(delay / 1000).toFixed(1)} s`);
      }
      await new Promise((r) => setTimeout(r, retryDelay(failures)));
    }
  }
}
