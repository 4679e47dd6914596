// Plumbing the TypeScript pipeline stages (ingest, sink) share: a push-driven async queue to
// feed a client stream, a credit window bounding the batches in flight on one hop, downstream
// lookup through the topology, and the process figures every StageMetrics carries.

import { Code, ConnectError, type Client } from "@connectrpc/connect";
import type { TopologyService } from "@modular-runtime/proto/runtime/v1/topology";

/** An unbounded async queue; the credit window in front of it is what bounds it. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter?: () => void;
  private ended = false;

  push(item: T): void {
    if (this.ended) return;
    this.items.push(item);
    this.wake();
  }

  end(): void {
    this.ended = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length > 0) {
        // Hand out everything queued in one go; shift() on a long array is O(n).
        const batch = this.items;
        this.items = [];
        for (const item of batch) yield item;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}

/**
 * At most `size` batches sent and not yet acknowledged. `acquire` waits for a free slot and
 * adds the time it waited to `waitNs`; `release` frees one. `close` wakes every waiter with the
 * given error, so nothing waits forever once the stream is gone.
 */
export class CreditWindow {
  private inFlight = 0;
  private waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private closedWith?: unknown;
  waitNs = 0n;

  constructor(readonly size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`window must be a positive integer, got ${size}`);
  }

  async acquire(): Promise<void> {
    if (this.closedWith !== undefined) throw this.closedWith;
    if (this.inFlight < this.size) {
      this.inFlight++;
      return;
    }
    const t0 = process.hrtime.bigint();
    await new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    this.waitNs += process.hrtime.bigint() - t0;
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next.resolve(); // the slot passes straight to the waiter
    else if (this.inFlight > 0) this.inFlight--;
  }

  close(error: unknown): void {
    this.closedWith = error;
    for (const w of this.waiters.splice(0)) w.reject(error);
  }
}

/**
 * Resolves a service name to the address of its newest live instance, retrying every
 * `retryMs` (default 100 ms) until `timeoutMs`; then fails with UNAVAILABLE naming both stages.
 */
export async function lookupAddress(
  topology: Client<typeof TopologyService>,
  stage: string,
  name: string,
  opts: { timeoutMs?: number; signal?: AbortSignal; retryMs?: number } = {},
): Promise<string> {
  const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
  let lastError = "";
  for (;;) {
    if (opts.signal?.aborted) throw new ConnectError(`${stage}: cancelled while looking up ${name}`, Code.Canceled);
    try {
      const res = await topology.lookupService({ name }, { signal: opts.signal, timeoutMs: 5000 });
      const address = res.instances.find((i) => i.address !== "")?.address;
      if (address) return address;
      lastError = "";
    } catch (e) {
      lastError = ConnectError.from(e).message;
    }
    if (Date.now() >= deadline) {
      const why = lastError ? ` (topology lookup failed: ${lastError})` : "";
      throw new ConnectError(`${stage}: downstream ${name} is not registered with the topology${why}`, Code.Unavailable);
    }
    await new Promise((r) => setTimeout(r, opts.retryMs ?? 100));
  }
}

/** Wall-clock now in Unix nanoseconds (sub-millisecond), as batch timestamps carry it. */
export function unixNanos(): bigint {
  return BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
}

/** CPU seconds (user + system) of this process so far and its peak RSS in bytes. */
export function processFigures(): { cpuSeconds: number; peakRssBytes: bigint } {
  const u = process.resourceUsage();
  return { cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6, peakRssBytes: BigInt(u.maxRSS) * 1024n };
}
