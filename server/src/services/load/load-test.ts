// One load test in the open model: request k is due at start + k/rate, whatever the responses
// do. Latency is measured from that scheduled time (coordinated-omission corrected) and from the
// actual send time (uncorrected). Nothing is queued: when the in-flight limit is reached or the
// event loop is behind, the schedule simply runs ahead of the send counter, the overdue requests
// go out as soon as they can (late, and charged for the wait) and the interval is flagged
// saturated. Clock and timers are injected so tests can drive the schedule by hand.

import { setMaxListeners } from "node:events";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { LoadMetricsSchema, LoadSummarySchema, LoadTestState, type LoadMetrics, type LoadSummary } from "@modular-runtime/proto/runtime/v1/load";
import type { Clock } from "../../clock.js";
import type { Scheduler } from "../topology/topology-watcher.js";
import { LatencyHistogram } from "./histogram.js";
import type { LoadTarget } from "./targets.js";

/** A send leaving more than this after its scheduled time is late. */
export const LATE_THRESHOLD_MS = 10;
/** An interval with more late sends than this share of its sends is saturated. */
export const SATURATED_LATE_SHARE = 0.01;
export const METRICS_INTERVAL_MS = 1000;

export interface LoadTestSpec {
  id: string;
  ratePerSecond: number;
  durationMs: number;
  maxInFlight: number;
  timeoutMs: number;
}

export interface LoadTestDeps {
  clock: Clock;
  scheduler: Scheduler;
  target: LoadTarget;
  /** Once a second while running, and once more at the end (state final). */
  onMetrics(m: LoadMetrics): void;
  /** Every completed call (for the topology's edge): call duration and outcome. */
  onCall?(ok: boolean, latencyUs: number, error: string): void;
  onEnd?(summary: LoadSummary): void;
}

/** Connect code names as on the wire: "deadline_exceeded". */
export function codeName(code: Code): string {
  return (Code[code] ?? "unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

export class LoadTest {
  state: LoadTestState = LoadTestState.RUNNING;
  readonly startedAt: number;
  readonly startedAtWall: number;
  private readonly intervalMs: number;
  private readonly planned: number;
  private readonly endAt: number;
  private next = 0;
  private sent = 0;
  private succeeded = 0;
  private failed = 0;
  private late = 0;
  private unsent = 0;
  private inFlight = 0;
  private readonly errors = new Map<string, number>();
  private readonly corrected = new LatencyHistogram();
  private readonly uncorrected = new LatencyHistogram();
  private readonly iCorrected = new LatencyHistogram();
  private readonly iUncorrected = new LatencyHistogram();
  private iSent = 0;
  private iCompleted = 0;
  private iLate = 0;
  private iLimitHit = false;
  private iBehindMs = 0;
  private iStartedAt: number;
  private everSaturated = false;
  private sendingEndedAt = Number.NaN;
  private failure = "";
  private latest: LoadMetrics;
  private sendTimer: unknown;
  private tickTimer: unknown;
  private endTimer: unknown;
  private drainTimer: unknown;
  private readonly abort = new AbortController();

  constructor(
    readonly spec: LoadTestSpec,
    private readonly deps: LoadTestDeps,
  ) {
    // Every call in flight listens on the one abort signal.
    setMaxListeners(0, this.abort.signal);
    this.startedAt = deps.clock.now();
    this.startedAtWall = deps.clock.wallNow();
    this.iStartedAt = this.startedAt;
    this.intervalMs = 1000 / spec.ratePerSecond;
    this.planned = Math.round((spec.ratePerSecond * spec.durationMs) / 1000);
    this.endAt = this.startedAt + spec.durationMs;
    this.latest = this.metrics(false);
    this.tickTimer = deps.scheduler.setTimeout(() => this.tick(), METRICS_INTERVAL_MS);
    this.endTimer = deps.scheduler.setTimeout(() => this.endSending(), spec.durationMs);
    this.pump();
  }

  get ended(): boolean {
    return this.state !== LoadTestState.RUNNING && this.state !== LoadTestState.DRAINING;
  }

  /** The latest one-second metrics (the initial zeros before the first second). */
  get latestMetrics(): LoadMetrics {
    return this.latest;
  }

  /** Stops now: no more sends, requests in flight are cancelled and counted in neither total. */
  stop(reason: LoadTestState = LoadTestState.STOPPED, error = ""): void {
    if (this.ended) return;
    this.failure = error;
    if (Number.isNaN(this.sendingEndedAt)) this.sendingEndedAt = this.deps.clock.now();
    this.abort.abort();
    this.finish(reason);
  }

  summary(): LoadSummary {
    const c = this.corrected;
    const u = this.uncorrected;
    const sendingMs = (Number.isNaN(this.sendingEndedAt) ? this.deps.clock.now() : this.sendingEndedAt) - this.startedAt;
    return create(LoadSummarySchema, {
      testId: this.spec.id,
      state: this.state,
      totalRequests: BigInt(this.sent),
      totalSucceeded: BigInt(this.succeeded),
      totalFailed: BigInt(this.failed),
      avgLatencyMs: c.meanUs / 1000,
      minLatencyMs: c.count === 0 ? 0 : c.minUs / 1000,
      maxLatencyMs: c.maxUs / 1000,
      errorCounts: this.errorCounts(),
      latencyP50Ms: c.percentileMs(50),
      latencyP95Ms: c.percentileMs(95),
      latencyP99Ms: c.percentileMs(99),
      uncorrectedP50Ms: u.percentileMs(50),
      uncorrectedP95Ms: u.percentileMs(95),
      uncorrectedP99Ms: u.percentileMs(99),
      uncorrectedMaxMs: u.maxUs / 1000,
      lateSends: BigInt(this.late),
      requestsUnsent: BigInt(this.unsent),
      achievedRps: sendingMs > 0 ? (this.sent * 1000) / sendingMs : 0,
      durationMs: BigInt(Math.round(sendingMs)),
      saturated: this.everSaturated,
      error: this.failure,
    });
  }

  // --- the schedule ---------------------------------------------------------------------------

  private dueAt(k: number): number {
    return this.startedAt + k * this.intervalMs;
  }

  /** Sends everything that is due, as far as the in-flight limit allows; re-arms the timer. */
  private pump(): void {
    if (this.state !== LoadTestState.RUNNING) return;
    const { clock } = this.deps;
    let now = clock.now();
    while (this.next < this.planned) {
      const at = this.dueAt(this.next);
      if (at > now) break;
      if (this.inFlight >= this.spec.maxInFlight) {
        this.iLimitHit = true;
        break;
      }
      this.send(at, now);
      this.next++;
      now = clock.now();
    }
    if (this.next >= this.planned) {
      this.endSending();
      return;
    }
    // While blocked by the limit, a completion pumps again; otherwise wake at the next due time.
    if (this.sendTimer === undefined && this.inFlight < this.spec.maxInFlight) {
      const wait = Math.max(0, this.dueAt(this.next) - now);
      this.sendTimer = this.deps.scheduler.setTimeout(() => {
        this.sendTimer = undefined;
        this.pump();
      }, wait);
    }
  }

  private send(scheduledAt: number, sentAt: number): void {
    this.inFlight++;
    this.sent++;
    this.iSent++;
    const behind = sentAt - scheduledAt;
    if (behind > LATE_THRESHOLD_MS) {
      this.late++;
      this.iLate++;
    }
    if (behind > this.iBehindMs) this.iBehindMs = behind;
    this.deps.target.call(this.abort.signal, this.spec.timeoutMs).then(
      () => this.complete(scheduledAt, sentAt, undefined),
      (err: unknown) => this.complete(scheduledAt, sentAt, err ?? new Error("unknown error")),
    );
  }

  private complete(scheduledAt: number, sentAt: number, err: unknown): void {
    this.inFlight--;
    if (this.ended) return; // cancelled by stop(): counted in neither total
    const now = this.deps.clock.now();
    const correctedUs = (now - scheduledAt) * 1000;
    const uncorrectedUs = (now - sentAt) * 1000;
    this.corrected.record(correctedUs);
    this.uncorrected.record(uncorrectedUs);
    this.iCorrected.record(correctedUs);
    this.iUncorrected.record(uncorrectedUs);
    this.iCompleted++;
    let message = "";
    if (err === undefined) {
      this.succeeded++;
    } else {
      this.failed++;
      const ce = ConnectError.from(err);
      const name = codeName(ce.code);
      this.errors.set(name, (this.errors.get(name) ?? 0) + 1);
      message = `${name}: ${ce.rawMessage}`;
    }
    this.deps.onCall?.(err === undefined, uncorrectedUs, message);
    if (this.state === LoadTestState.RUNNING) this.pump();
    else if (this.state === LoadTestState.DRAINING && this.inFlight === 0) this.finish(LoadTestState.COMPLETED);
  }

  /** The duration is over (or every request was sent): what is still due is unsent. */
  private endSending(): void {
    if (this.state !== LoadTestState.RUNNING) return;
    this.sendingEndedAt = Math.min(this.deps.clock.now(), this.endAt);
    this.unsent = this.planned - this.next;
    if (this.unsent > 0) this.everSaturated = true;
    this.state = LoadTestState.DRAINING;
    this.clear("sendTimer");
    this.clear("endTimer");
    if (this.inFlight === 0) {
      this.finish(LoadTestState.COMPLETED);
      return;
    }
    // Every call has its own timeout; this is only a backstop.
    this.drainTimer = this.deps.scheduler.setTimeout(() => this.stop(LoadTestState.COMPLETED), this.spec.timeoutMs + 1000);
  }

  private finish(state: LoadTestState): void {
    this.state = state;
    for (const t of ["sendTimer", "tickTimer", "endTimer", "drainTimer"] as const) this.clear(t);
    this.latest = this.metrics(true);
    this.deps.onMetrics(this.latest);
    this.deps.onEnd?.(this.summary());
  }

  private clear(which: "sendTimer" | "tickTimer" | "endTimer" | "drainTimer"): void {
    if (this[which] !== undefined) this.deps.scheduler.clearTimeout(this[which]);
    this[which] = undefined;
  }

  private tick(): void {
    this.tickTimer = undefined;
    if (this.ended) return;
    this.latest = this.metrics(true);
    this.deps.onMetrics(this.latest);
    // Aligned to the start so intervals do not drift with timer lateness. Rounded to the nearest
    // boundary first: a timer that fires a fraction of a millisecond "early" against this clock
    // must not schedule a 1 ms interval (which showed up as 0 and 1,892 req/s seconds).
    const elapsed = this.deps.clock.now() - this.startedAt;
    const nextTick = (Math.round(elapsed / METRICS_INTERVAL_MS) + 1) * METRICS_INTERVAL_MS;
    this.tickTimer = this.deps.scheduler.setTimeout(() => this.tick(), Math.max(1, nextTick - elapsed));
  }

  private errorCounts(): Record<string, bigint> {
    return Object.fromEntries([...this.errors].map(([k, v]) => [k, BigInt(v)]));
  }

  /** Builds the metrics of the interval since the previous call; `reset` starts a new one. */
  private metrics(reset: boolean): LoadMetrics {
    const now = this.deps.clock.now();
    const seconds = (now - this.iStartedAt) / 1000;
    // Behind schedule: what was due by now but not sent (the counter, not a queue).
    const due = this.state === LoadTestState.RUNNING ? Math.min(this.planned, Math.floor((now - this.startedAt) / this.intervalMs) + 1) : this.next;
    const backlog = Math.max(0, due - this.next);
    const lateShare = this.iSent === 0 ? 0 : this.iLate / this.iSent;
    let reason = "";
    if (this.iLimitHit) {
      reason = `in-flight limit of ${this.spec.maxInFlight} reached: the target answers too slowly for ${this.spec.ratePerSecond} req/s, sends are late`;
    } else if (lateShare > SATURATED_LATE_SHARE || backlog > Math.max(1, this.spec.ratePerSecond * 0.05)) {
      reason = `generator behind schedule by up to ${Math.round(this.iBehindMs)} ms (${this.iLate} late sends): this process cannot keep ${this.spec.ratePerSecond} req/s`;
    }
    if (reason) this.everSaturated = true;
    const m = create(LoadMetricsSchema, {
      testId: this.spec.id,
      requestsSent: BigInt(this.sent),
      requestsSucceeded: BigInt(this.succeeded),
      requestsFailed: BigInt(this.failed),
      latencyP50Ms: this.iCorrected.percentileMs(50),
      latencyP95Ms: this.iCorrected.percentileMs(95),
      latencyP99Ms: this.iCorrected.percentileMs(99),
      latencyMaxMs: this.iCorrected.maxUs / 1000,
      uncorrectedP50Ms: this.iUncorrected.percentileMs(50),
      uncorrectedP95Ms: this.iUncorrected.percentileMs(95),
      uncorrectedP99Ms: this.iUncorrected.percentileMs(99),
      currentRps: seconds > 0 ? this.iSent / seconds : 0,
      completedPerSecond: seconds > 0 ? this.iCompleted / seconds : 0,
      timestampMs: BigInt(Math.round(this.deps.clock.wallNow())),
      errorsByCode: this.errorCounts(),
      lateSends: BigInt(this.late),
      inFlight: this.inFlight,
      saturated: reason !== "",
      saturationReason: reason,
      state: this.state,
      elapsedMs: BigInt(Math.round(now - this.startedAt)),
      requestsUnsent: BigInt(this.unsent),
    });
    if (reset) {
      this.iCorrected.reset();
      this.iUncorrected.reset();
      this.iSent = 0;
      this.iCompleted = 0;
      this.iLate = 0;
      this.iLimitHit = false;
      this.iBehindMs = 0;
      this.iStartedAt = now;
    }
    return m;
  }
}
