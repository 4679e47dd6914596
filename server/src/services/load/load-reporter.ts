// Puts the load generator on the topology: while at least one test runs, an instance named
// `load-generator` is registered (in-process, straight into the registry), heartbeats, and
// reports its calls aggregated per target and method once a second, so the load shows up as a
// thick edge. It unregisters a few seconds after the last test ends (so the audience sees the
// edge wind down rather than vanish).

import { create } from "@bufbuild/protobuf";
import {
  ActivityEventSchema,
  ActivityType,
  RegisterServiceRequestSchema,
  ServiceLanguage,
  ServiceType,
  type ActivityEvent,
} from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "../../clock.js";
import type { TopologyRegistry } from "../topology/registry.js";
import type { Scheduler } from "../topology/topology-watcher.js";

export const LOAD_SOURCE_NAME = "load-generator";
const REPORT_INTERVAL_MS = 1000;
/** How long the source stays on the graph after the last test ended. */
export const LINGER_MS = 5000;

interface Aggregate {
  target: string;
  method: string;
  count: number;
  errors: number;
  latencySumUs: number;
  latencyMaxUs: number;
  lastError: string;
}

export class LoadReporter {
  private users = 0;
  private instanceId: string | undefined;
  private sequence = 0n;
  private readonly pending = new Map<string, Aggregate>();
  private reportTimer: unknown;
  private beatTimer: unknown;
  private lingerTimer: unknown;

  constructor(
    private readonly registry: TopologyRegistry,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly onError: (err: unknown) => void = () => {},
  ) {}

  /** A test started: make sure the source is on the graph. */
  acquire(): void {
    this.users++;
    if (this.lingerTimer !== undefined) {
      this.scheduler.clearTimeout(this.lingerTimer);
      this.lingerTimer = undefined;
      return; // still registered, timers still running
    }
    if (this.users === 1) {
      this.ensureRegistered();
      this.reportTimer = this.scheduler.setTimeout(() => this.report(), REPORT_INTERVAL_MS);
      this.scheduleBeat();
    }
  }

  /** A test ended: report what is left; the last one out unregisters. */
  release(): void {
    if (this.users === 0) return;
    this.users--;
    if (this.users > 0) return;
    this.flush();
    this.lingerTimer = this.scheduler.setTimeout(() => this.leave(), LINGER_MS);
  }

  /** Server shutdown: leave the graph now, no lingering timers. */
  close(): void {
    if (this.users > 0 || this.lingerTimer === undefined) return;
    this.scheduler.clearTimeout(this.lingerTimer);
    this.leave();
  }

  private leave(): void {
    this.lingerTimer = undefined;
    this.flush();
    this.scheduler.clearTimeout(this.reportTimer);
    this.scheduler.clearTimeout(this.beatTimer);
    this.reportTimer = this.beatTimer = undefined;
    if (this.instanceId) {
      try {
        this.registry.unregister(this.instanceId);
      } catch {
        // Already gone (e.g. timed out): nothing to undo.
      }
      this.instanceId = undefined;
    }
  }

  record(target: string, method: string, ok: boolean, latencyUs: number, error: string): void {
    const key = `${target}\u0000${method}`;
    let a = this.pending.get(key);
    if (!a) {
      a = { target, method, count: 0, errors: 0, latencySumUs: 0, latencyMaxUs: 0, lastError: "" };
      this.pending.set(key, a);
    }
    a.count++;
    if (!ok) {
      a.errors++;
      a.lastError = error;
    }
    a.latencySumUs += latencyUs;
    if (latencyUs > a.latencyMaxUs) a.latencyMaxUs = latencyUs;
  }

  get registeredInstanceId(): string | undefined {
    return this.instanceId;
  }

  private ensureRegistered(): string {
    if (this.instanceId) return this.instanceId;
    const handle = this.registry.register(
      create(RegisterServiceRequestSchema, {
        name: LOAD_SOURCE_NAME,
        type: ServiceType.CLIENT,
        language: ServiceLanguage.TYPESCRIPT,
        version: "1",
        host: "control-server",
        pid: process.pid,
        metadata: { role: "load-generator" },
      }),
    );
    this.instanceId = handle.instanceId;
    this.beat();
    return handle.instanceId;
  }

  private beat(): void {
    if (!this.instanceId) return;
    try {
      this.registry.heartbeat(this.instanceId, ++this.sequence);
    } catch {
      // Declared dead (the event loop stalled for several intervals): come back as a new one.
      this.instanceId = undefined;
      this.ensureRegistered();
    }
  }

  private scheduleBeat(): void {
    this.beatTimer = this.scheduler.setTimeout(() => {
      this.beat();
      this.scheduleBeat();
    }, this.registry.options.heartbeatIntervalMs);
  }

  private report(): void {
    this.flush();
    this.reportTimer = this.scheduler.setTimeout(() => this.report(), REPORT_INTERVAL_MS);
  }

  private flush(): void {
    if (this.pending.size === 0) return;
    const events: ActivityEvent[] = [...this.pending.values()].map((a) =>
      create(ActivityEventSchema, {
        targetService: a.target,
        method: a.method,
        type: ActivityType.REQUEST,
        count: a.count,
        errorCount: a.errors,
        latencySumUs: BigInt(Math.round(a.latencySumUs)),
        latencyMaxUs: BigInt(Math.round(a.latencyMaxUs)),
        timestampMs: BigInt(Math.round(this.clock.wallNow())),
        lastError: a.lastError,
      }),
    );
    this.pending.clear();
    try {
      this.registry.reportActivity(this.ensureRegistered(), events);
    } catch (err) {
      try {
        this.instanceId = undefined;
        this.registry.reportActivity(this.ensureRegistered(), events);
      } catch (again) {
        this.onError(again ?? err);
      }
    }
  }
}
