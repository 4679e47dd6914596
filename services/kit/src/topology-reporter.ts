// The topology reporter every TypeScript service uses: registers with the control server,
// keeps a heartbeat stream open (with CPU, RSS and health), sends traffic it recorded as one
// aggregated activity report per second, re-registers after the control server restarts or
// declares the instance dead, and unregisters on a graceful stop.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import {
  ActivityEventSchema,
  ActivityType,
  HealthState,
  HeartbeatRequestSchema,
  ServiceLanguage,
  ServiceType,
  TopologyService,
  type ActivityEvent,
  type HeartbeatRequest,
  type ServiceHandle,
} from "@modular-runtime/proto/runtime/v1/topology";
import { hostname } from "node:os";

export { HealthState, ServiceLanguage, ServiceType };

export interface ReporterOptions {
  /** h2c URL of the control server, e.g. http://127.0.0.1:3001 (env MR_CONTROL_URL). */
  controlUrl: string;
  name: string;
  type: ServiceType;
  language?: ServiceLanguage;
  version?: string;
  /** host:port where this service listens; empty for pure clients. */
  address?: string;
  /** Names of the services it calls. */
  dependencies?: string[];
  metadata?: Record<string, string>;
  /** Supervised process name (env MR_PROCESS_NAME). */
  processName?: string;
  /** How often aggregated activity is sent. */
  activityIntervalMs?: number;
  /** Where the reporter says what it does. */
  log?: (message: string) => void;
}

interface Pending {
  target: string;
  method: string;
  count: number;
  errors: number;
  latencySumUs: number;
  latencyMaxUs: number;
  items: number;
  lastError: string;
}

/** Resolves after `ms`, or early when `signal` aborts; leaves no listener behind. */
const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(t);
      resolve();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });

export class TopologyReporter {
  private readonly client: Client<typeof TopologyService>;
  private readonly opts: Required<Omit<ReporterOptions, "log">> & { log: (m: string) => void };
  private handle?: ServiceHandle;
  private readonly stopped = new AbortController();
  private sequence = 0n;
  private pending = new Map<string, Pending>();
  private health: { state: HealthState; message: string } = { state: HealthState.STARTING, message: "" };
  private errorsSinceBeat = 0;
  private lastCpu = process.cpuUsage();
  private lastCpuAt = performance.now();
  private loop?: Promise<void>;
  private activityTimer?: NodeJS.Timeout;
  private firstRegistration?: Promise<void>;
  private resolveFirst?: () => void;

  constructor(options: ReporterOptions) {
    this.opts = {
      language: ServiceLanguage.TYPESCRIPT,
      version: "0.1.0",
      address: "",
      dependencies: [],
      metadata: {},
      processName: "",
      activityIntervalMs: 1000,
      log: (m) => console.log(JSON.stringify({ level: "info", msg: m, service: options.name })),
      ...options,
    } as TopologyReporter["opts"];
    this.client = createClient(TopologyService, createGrpcTransport({ baseUrl: this.opts.controlUrl }));
  }

  /** The current instance id, once registered. */
  get instanceId(): string | undefined {
    return this.handle?.instanceId;
  }

  /** Starts registering and heartbeating; resolves after the first successful registration. */
  start(): Promise<void> {
    if (!this.loop) {
      this.firstRegistration = new Promise((r) => (this.resolveFirst = r));
      this.loop = this.run();
      this.activityTimer = setInterval(() => void this.flushActivity(), this.opts.activityIntervalMs);
    }
    return this.firstRegistration!;
  }

  setHealth(state: HealthState, message = ""): void {
    this.health = { state, message };
  }

  /** Records one call (or a batch of `items` items) to another service. */
  recordCall(target: string, method: string, latencyMs: number, ok: boolean, items = 0, error = ""): void {
    const key = `${target}\u0000${method}`;
    let p = this.pending.get(key);
    if (!p) {
      p = { target, method, count: 0, errors: 0, latencySumUs: 0, latencyMaxUs: 0, items: 0, lastError: "" };
      this.pending.set(key, p);
    }
    const us = Math.max(0, Math.round(latencyMs * 1000));
    p.count++;
    p.latencySumUs += us;
    p.latencyMaxUs = Math.max(p.latencyMaxUs, us);
    p.items += items;
    if (!ok) {
      p.errors++;
      this.errorsSinceBeat++;
      if (error) p.lastError = error;
    }
  }

  /** Unregisters (best effort) and stops all timers. */
  async stop(): Promise<void> {
    if (this.stopped.signal.aborted) return;
    this.stopped.abort();
    clearInterval(this.activityTimer);
    await this.flushActivity().catch(() => undefined);
    const id = this.handle?.instanceId;
    if (id) {
      await this.client.unregisterService({ instanceId: id }, { timeoutMs: 1000 }).catch(() => undefined);
    }
    await this.loop?.catch(() => undefined);
  }

  private async register(): Promise<ServiceHandle> {
    let delay = 100;
    for (;;) {
      try {
        const handle = await this.client.registerService(
          {
            name: this.opts.name,
            type: this.opts.type,
            language: this.opts.language,
            version: this.opts.version,
            address: this.opts.address,
            host: hostname(),
            metadata: this.opts.metadata,
            dependencies: this.opts.dependencies,
            pid: process.pid,
            processName: this.opts.processName,
          },
          { timeoutMs: 2000, signal: this.stopped.signal },
        );
        this.opts.log(`registered as ${handle.instanceId} (heartbeat every ${handle.heartbeatIntervalMs} ms)`);
        return handle;
      } catch (err) {
        if (this.stopped.signal.aborted) throw err;
        const e = ConnectError.from(err);
        if (e.code === Code.InvalidArgument) throw e; // our own mistake: retrying cannot help
        if (delay === 100) this.opts.log(`control server not reachable at ${this.opts.controlUrl} (${e.message}); retrying`);
        await sleep(delay, this.stopped.signal);
        delay = Math.min(2000, delay * 2);
      }
    }
  }

  private beat(): HeartbeatRequest {
    const now = performance.now();
    const cpu = process.cpuUsage(this.lastCpu);
    const elapsedUs = Math.max(1, (now - this.lastCpuAt) * 1000);
    this.lastCpu = process.cpuUsage();
    this.lastCpuAt = now;
    const errorCount = this.errorsSinceBeat;
    this.errorsSinceBeat = 0;
    return create(HeartbeatRequestSchema, {
      instanceId: this.handle!.instanceId,
      sequence: ++this.sequence,
      metrics: { cpuPercent: ((cpu.user + cpu.system) / elapsedUs) * 100, rssBytes: BigInt(process.memoryUsage.rss()) },
      health: { state: this.health.state, message: this.health.message, errorCount },
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped.signal.aborted) {
      try {
        this.handle = await this.register();
      } catch (err) {
        if (!this.stopped.signal.aborted) this.opts.log(`registration failed for good: ${ConnectError.from(err).message}`);
        return;
      }
      this.resolveFirst?.();
      const interval = this.handle.heartbeatIntervalMs;
      const streamAbort = new AbortController();
      const onStop = () => streamAbort.abort();
      this.stopped.signal.addEventListener("abort", onStop, { once: true });
      const self = this;
      async function* beats() {
        while (!streamAbort.signal.aborted) {
          yield self.beat();
          await sleep(interval, streamAbort.signal);
        }
      }
      try {
        for await (const _ack of this.client.heartbeat(beats(), { signal: streamAbort.signal })) {
          // Each ack confirms the instance is alive; nothing else to do.
        }
      } catch (err) {
        if (this.stopped.signal.aborted) break;
        const e = ConnectError.from(err);
        this.opts.log(
          e.code === Code.NotFound
            ? `control server no longer knows instance ${this.handle.instanceId}; registering again`
            : `heartbeat stream broke (${e.message}); registering again`,
        );
      } finally {
        streamAbort.abort();
        this.stopped.signal.removeEventListener("abort", onStop);
      }
      this.handle = undefined;
      await sleep(50, this.stopped.signal);
    }
  }

  private async flushActivity(): Promise<void> {
    if (this.pending.size === 0 || !this.handle) return;
    const batch = this.pending;
    this.pending = new Map();
    const now = BigInt(Date.now());
    const events: ActivityEvent[] = [...batch.values()].map((p) =>
      create(ActivityEventSchema, {
        targetService: p.target,
        method: p.method,
        type: ActivityType.REQUEST,
        count: p.count,
        errorCount: p.errors,
        latencySumUs: BigInt(p.latencySumUs),
        latencyMaxUs: BigInt(p.latencyMaxUs),
        itemCount: BigInt(p.items),
        timestampMs: now,
        lastError: p.lastError,
      }),
    );
    try {
      await this.client.reportActivity({ instanceId: this.handle.instanceId, events }, { timeoutMs: 2000 });
    } catch {
      // Activity is advisory: a report lost while the control server restarts is acceptable.
    }
  }
}

/**
 * A supervised process must not outlive its control server, even after `kill -9` of it: when the
 * parent changes (we were re-parented), exit.
 */
export function exitWithParent(onExit: () => void = () => process.exit(0)): void {
  const parent = process.ppid;
  const t = setInterval(() => {
    if (process.ppid !== parent) {
      clearInterval(t);
      onExit();
    }
  }, 500);
  t.unref();
}

/** Reads the standard environment the supervisor gives every child. */
export function controlEnv(env: NodeJS.ProcessEnv = process.env): { controlUrl: string; processName: string } {
  return {
    controlUrl: env.MR_CONTROL_URL ?? "http://127.0.0.1:3001",
    processName: env.MR_PROCESS_NAME ?? "",
  };
}
