// Several load tests at once: argument checks, target resolution through the registry, limits
// on the number of tests and their combined rate, and a short memory of ended tests so a
// dashboard can show their final figures.

import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LoadTestInfoSchema, LoadTestState, type LoadMetrics, type LoadSummary, type LoadTestInfo, type StartLoadRequest } from "@modular-runtime/proto/runtime/v1/load";
import type { Clock } from "../../clock.js";
import type { TopologyRegistry } from "../topology/registry.js";
import type { Scheduler } from "../topology/topology-watcher.js";
import { LoadReporter } from "./load-reporter.js";
import { LoadTest } from "./load-test.js";
import { calculatorAdapter, chooseAdapter, ingestAdapter, type TargetAdapter } from "./targets.js";

export const LIMITS = {
  rate: { min: 1, max: 50_000 },
  durationSeconds: { min: 1, max: 3600 },
  concurrency: { min: 1, max: 10_000, dflt: 1000 },
  timeoutMs: { min: 1, max: 60_000, dflt: 5000 },
  payloadBytes: 64 * 1024,
  labelChars: 100,
  maxRunning: 8,
  maxTotalRate: 100_000,
  /** Ended tests stay listed this long. */
  keepEndedMs: 60_000,
  maxEnded: 32,
} as const;

export interface LoadGeneratorDeps {
  registry: TopologyRegistry;
  clock: Clock;
  scheduler: Scheduler;
  adapters?: TargetAdapter[];
  /** Where generator-internal problems go (logs); never to clients. */
  onError?(err: unknown): void;
}

interface Entry {
  test: LoadTest;
  target: string;
  method: string;
  address: string;
  label: string;
  request: StartLoadRequest;
  concurrency: number;
  endedAt?: number;
  listeners: Set<(m: LoadMetrics) => void>;
}

function range(what: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) {
    throw new ConnectError(`${what} must be ${min}–${max}, got ${v}`, Code.InvalidArgument);
  }
}

export class LoadGenerator {
  private readonly tests = new Map<string, Entry>();
  private readonly adapters: TargetAdapter[];
  readonly reporter: LoadReporter;

  constructor(private readonly deps: LoadGeneratorDeps) {
    this.adapters = deps.adapters ?? [calculatorAdapter(), ingestAdapter()];
    this.reporter = new LoadReporter(deps.registry, deps.clock, deps.scheduler, deps.onError);
  }

  /** Validates, resolves the target and starts the test. Listeners get every metrics message. */
  start(req: StartLoadRequest, listener?: (m: LoadMetrics) => void): LoadTestInfo {
    range("requests_per_second", req.requestsPerSecond, LIMITS.rate.min, LIMITS.rate.max);
    range("duration_seconds", req.durationSeconds, LIMITS.durationSeconds.min, LIMITS.durationSeconds.max);
    const concurrency = req.concurrentClients === 0 ? LIMITS.concurrency.dflt : req.concurrentClients;
    range("concurrent_clients", concurrency, LIMITS.concurrency.min, LIMITS.concurrency.max);
    const timeoutMs = req.requestTimeoutMs === 0 ? LIMITS.timeoutMs.dflt : req.requestTimeoutMs;
    range("request_timeout_ms", timeoutMs, LIMITS.timeoutMs.min, LIMITS.timeoutMs.max);
    if (req.payload.length > LIMITS.payloadBytes) {
      throw new ConnectError(`payload must be at most ${LIMITS.payloadBytes} bytes, got ${req.payload.length}`, Code.InvalidArgument);
    }
    if (req.label.length > LIMITS.labelChars) {
      throw new ConnectError(`label must be at most ${LIMITS.labelChars} characters, got ${req.label.length}`, Code.InvalidArgument);
    }
    if (req.targetService === "") throw new ConnectError("target_service is required", Code.InvalidArgument);
    const running = this.running();
    if (running.length >= LIMITS.maxRunning) {
      throw new ConnectError(`too many load tests running (${running.length}); stop one first`, Code.ResourceExhausted);
    }
    const totalRate = running.reduce((s, e) => s + e.test.spec.ratePerSecond, 0) + req.requestsPerSecond;
    if (totalRate > LIMITS.maxTotalRate) {
      throw new ConnectError(`combined rate of running tests would be ${totalRate} req/s, more than ${LIMITS.maxTotalRate}`, Code.ResourceExhausted);
    }
    const node = this.deps.registry.lookup(req.targetService).find((n) => n.address !== "");
    if (!node) {
      throw new ConnectError(`no live instance of service ${JSON.stringify(req.targetService)} with an address in the registry`, Code.NotFound);
    }
    const { adapter, method } = chooseAdapter(this.adapters, node, req.method);
    const target = adapter.prepare(node, method, req.payload);

    this.prune();
    const id = randomUUID();
    const listeners = new Set<(m: LoadMetrics) => void>();
    if (listener) listeners.add(listener);
    const name = node.name;
    this.reporter.acquire();
    const entry: Entry = {
      target: name,
      method,
      address: node.address,
      label: req.label,
      request: req,
      concurrency,
      listeners,
      test: undefined as unknown as LoadTest,
    };
    this.tests.set(id, entry);
    entry.test = new LoadTest(
      { id, ratePerSecond: req.requestsPerSecond, durationMs: req.durationSeconds * 1000, maxInFlight: concurrency, timeoutMs },
      {
        clock: this.deps.clock,
        scheduler: this.deps.scheduler,
        target,
        onMetrics: (m) => {
          for (const l of [...listeners]) l(m);
        },
        onCall: (ok, us, error) => this.reporter.record(name, method, ok, us, error),
        onEnd: () => {
          entry.endedAt = this.deps.clock.now();
          target.close();
          this.reporter.release();
        },
      },
    );
    return this.info(id, entry);
  }

  /** Stops a test (or returns the final summary of an ended one). */
  stop(id: string): LoadSummary {
    if (id === "") throw new ConnectError("test_id is required", Code.InvalidArgument);
    const e = this.tests.get(id);
    if (!e) throw new ConnectError(`unknown load test ${JSON.stringify(id)}`, Code.NotFound);
    e.test.stop(LoadTestState.STOPPED);
    return e.test.summary();
  }

  stopAll(): void {
    for (const e of this.tests.values()) e.test.stop(LoadTestState.STOPPED);
  }

  /** Follows a test's metrics; returns the unsubscribe function. */
  subscribe(id: string, listener: (m: LoadMetrics) => void): () => void {
    const e = this.tests.get(id);
    if (!e) return () => {};
    e.listeners.add(listener);
    return () => e.listeners.delete(listener);
  }

  get(id: string): LoadTest | undefined {
    return this.tests.get(id)?.test;
  }

  /** Running and draining tests, oldest first. */
  active(): LoadTestInfo[] {
    return this.running().map((e) => this.info(e.test.spec.id, e));
  }

  /** Active tests and the recently ended ones, oldest first. */
  all(): LoadTestInfo[] {
    this.prune();
    return [...this.tests].map(([id, e]) => this.info(id, e));
  }

  private running(): Entry[] {
    return [...this.tests.values()].filter((e) => !e.test.ended);
  }

  private prune(): void {
    const now = this.deps.clock.now();
    const ended = [...this.tests].filter(([, e]) => e.endedAt !== undefined);
    ended.forEach(([id, e], i) => {
      if (now - e.endedAt! > LIMITS.keepEndedMs || ended.length - i > LIMITS.maxEnded) this.tests.delete(id);
    });
  }

  private info(id: string, e: Entry): LoadTestInfo {
    return create(LoadTestInfoSchema, {
      testId: id,
      targetService: e.target,
      method: e.method,
      targetAddress: e.address,
      requestsPerSecond: e.request.requestsPerSecond,
      durationSeconds: e.request.durationSeconds,
      concurrentClients: e.concurrency,
      label: e.label,
      startedAtMs: BigInt(Math.round(e.test.startedAtWall)),
      latest: e.test.latestMetrics,
      summary: e.test.summary(),
    });
  }
}
