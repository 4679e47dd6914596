// The fault registry: validates InjectFault requests against the config file, carries faults
// out (crash through the supervisor, hogs as child processes, network faults through the fault
// proxies that read `netFaults`), and reverts each at its deadline, when cleared, or on close.
// Time, the supervisor and the hog launcher are injected so the lifecycle runs on a fake clock.

import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Clock } from "../../clock.js";
import type { Scheduler } from "../topology/topology-watcher.js";
import {
  FaultEventKind,
  FaultEventSchema,
  FaultParamsSchema,
  FaultSchema,
  FaultType,
  FaultTypeSchema,
  type Fault,
  type FaultEvent,
  type FaultParams,
  type InjectFaultRequest,
} from "@modular-runtime/proto/runtime/v1/chaos";
import type { NetFault } from "./fault-proxy.js";

/** A running hog process. */
export interface HogHandle {
  readonly pid: number;
  /** Kills it (its whole process group). */
  stop(): void;
}

export interface HogHooks {
  /** Threads started or MB held so far. */
  onProgress(amount: number): void;
  /** It exited (or failed to start) without being stopped. */
  onExit(detail: string): void;
}

export interface HogLauncher {
  start(target: string, kind: "cpu" | "memory", amount: number, hooks: HogHooks): HogHandle;
}

export interface FaultRegistryDeps {
  clock: Clock;
  scheduler: Scheduler;
  /** The config file's processes: the only possible targets. */
  processes: readonly { name: string; faultProxy: boolean }[];
  /** kill -9 of a process's current child; returns its pid. Throws FAILED_PRECONDITION when it is not running. */
  crash(name: string): number;
  hogs: HogLauncher;
  /** Markers for the log, under the target's name. */
  onEvent?(target: string, text: string, level: "info" | "warn" | "error"): void;
  /** Upper bound on active faults. */
  maxActive?: number;
}

export type FaultListener = (event: FaultEvent) => void;

const MAX_DURATION_MS = 24 * 60 * 60 * 1000;
const MAX_DELAY_MS = 60_000;

/** A fault type's name as in the proto (CRASH, DELAY, …); undefined for UNSPECIFIED and unknown numbers. */
function typeName(type: number): string | undefined {
  return type === FaultType.UNSPECIFIED ? undefined : FaultTypeSchema.values.find((v) => v.number === type)?.localName;
}
const TYPE_LIST = FaultTypeSchema.values.filter((v) => v.number !== FaultType.UNSPECIFIED).map((v) => v.localName).join(", ");
const NETWORK = new Set([FaultType.DELAY, FaultType.PACKET_LOSS, FaultType.ERROR_INJECT]);
const NO_FAULTS: readonly NetFault[] = Object.freeze([]);

interface Active {
  id: string;
  target: string;
  type: FaultType;
  params: FaultParams;
  startedAt: number;
  startedAtWall: number;
  durationMs: number;
  description: string;
  affected: number;
  timer?: unknown;
  hog?: HogHandle;
  net?: NetFault;
}

function invalid(message: string): ConnectError {
  return new ConnectError(`chaos: ${message}`, Code.InvalidArgument);
}

function within(field: string, value: number, min: number, max: number): void {
  if (!(value >= min && value <= max)) throw invalid(`${field} ${value} is not within ${min}..${max}`);
}

export class FaultRegistry {
  private readonly active = new Map<string, Active>();
  private readonly listeners = new Set<FaultListener>();
  /** Network faults by target, rebuilt on change: proxies read it per stream and per chunk. */
  private net = new Map<string, readonly NetFault[]>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly deps: FaultRegistryDeps) {}

  get size(): number {
    return this.active.size;
  }

  /** Subscribed watchers (WatchFaults streams). */
  get watchers(): number {
    return this.listeners.size;
  }

  /** Validates and carries out a fault. CRASH happens at once and is not kept. */
  inject(req: InjectFaultRequest): Fault {
    if (this.closed) throw new ConnectError("chaos: the control server is shutting down", Code.Unavailable);
    if (req.target === "") throw invalid("target is required: the name of a process of the config file");
    const proc = this.deps.processes.find((p) => p.name === req.target);
    if (!proc) {
      const known = this.deps.processes.map((p) => p.name).join(", ") || "(none)";
      throw new ConnectError(`chaos: no process named ${JSON.stringify(req.target)} in the config file; it defines: ${known}`, Code.NotFound);
    }
    const name = typeName(req.type);
    if (name === undefined) {
      throw invalid(`type ${req.type} is not a fault type; use one of ${TYPE_LIST}`);
    }
    const params = this.validParams(req.type, req.params ?? create(FaultParamsSchema, {}));
    if (req.type !== FaultType.CRASH) within("duration_ms", req.durationMs, 0, MAX_DURATION_MS);
    if (NETWORK.has(req.type) && !proc.faultProxy) {
      throw new ConnectError(
        `chaos: ${name} needs a fault proxy in front of ${JSON.stringify(req.target)}: set \`faultProxy: true\` for it in the config file`,
        Code.FailedPrecondition,
      );
    }
    const id = `f${this.nextId++}`;
    if (req.type === FaultType.CRASH) return this.crash(id, req.target, params);
    if (this.active.size >= (this.deps.maxActive ?? 100)) {
      throw new ConnectError(`chaos: ${this.active.size} faults are active already; clear some first`, Code.ResourceExhausted);
    }
    const a: Active = {
      id,
      target: req.target,
      type: req.type,
      params,
      startedAt: this.deps.clock.now(),
      startedAtWall: this.deps.clock.wallNow(),
      durationMs: req.durationMs,
      description: describe(req.type, req.target, params),
      affected: 0,
    };
    if (req.type === FaultType.CPU_HOG || req.type === FaultType.MEMORY_LEAK) {
      const kind = req.type === FaultType.CPU_HOG ? "cpu" : "memory";
      const amount = kind === "cpu" ? params.cpuThreads : Number(params.memoryMb);
      try {
        a.hog = this.deps.hogs.start(req.target, kind, amount, {
          onProgress: (n) => {
            a.affected = n;
          },
          onExit: (detail) => {
            a.hog = undefined;
            if (this.active.get(id) !== a) return;
            a.description += ` (the hog process ended: ${detail})`;
            this.deps.onEvent?.(a.target, `chaos: ${id} ended: its hog process exited (${detail})`, "warn");
            this.remove(a, FaultEventKind.CLEARED);
          },
        });
      } catch (err) {
        throw new ConnectError(`chaos: cannot start the hog process for ${req.target}: ${(err as Error).message}`, Code.Internal);
      }
    } else {
      a.net = {
        id,
        kind: req.type === FaultType.DELAY ? "delay" : req.type === FaultType.PACKET_LOSS ? "loss" : "error",
        delayMs: params.delayMs,
        jitterMs: params.jitterMs,
        lossPercent: params.lossPercent,
        errorRate: params.errorRate,
        hit: () => {
          a.affected++;
        },
      };
    }
    if (a.durationMs > 0) {
      a.timer = this.deps.scheduler.setTimeout(() => {
        a.timer = undefined;
        if (this.active.get(id) === a) this.remove(a, FaultEventKind.EXPIRED);
      }, a.durationMs);
    }
    this.active.set(id, a);
    this.rebuildNet();
    const for_ = a.durationMs > 0 ? ` for ${a.durationMs} ms` : " until cleared";
    this.deps.onEvent?.(a.target, `chaos: ${id} injected: ${a.description}${for_}`, "warn");
    const fault = this.toFault(a);
    this.emit(FaultEventKind.INJECTED, fault);
    return fault;
  }

  /** Active faults, oldest first. */
  list(): Fault[] {
    return [...this.active.values()].map((a) => this.toFault(a));
  }

  clear(id: string): Fault {
    const a = this.active.get(id);
    if (!a) {
      const ids = [...this.active.keys()].join(", ") || "none";
      throw new ConnectError(`chaos: no active fault with id ${JSON.stringify(id)} (active: ${ids})`, Code.NotFound);
    }
    return this.remove(a, FaultEventKind.CLEARED);
  }

  /** The emergency stop: every active fault reverts at once. Returns how many there were. */
  clearAll(): number {
    const all = [...this.active.values()];
    for (const a of all) this.remove(a, FaultEventKind.CLEARED);
    return all.length;
  }

  /** Network faults active on a process right now (a shared, frozen array; cheap to call). */
  netFaults(target: string): readonly NetFault[] {
    return this.net.get(target) ?? NO_FAULTS;
  }

  /** Subscribes to changes; the returned ACTIVE events describe the faults active now. */
  watch(listener: FaultListener): { active: FaultEvent[]; unsubscribe(): void } {
    this.listeners.add(listener);
    const at = BigInt(Math.round(this.deps.clock.wallNow()));
    return {
      active: this.list().map((fault) => create(FaultEventSchema, { kind: FaultEventKind.ACTIVE, fault, atMs: at })),
      unsubscribe: () => this.listeners.delete(listener),
    };
  }

  /** The control server stops: everything reverts and nothing new is accepted. */
  close(): number {
    this.closed = true;
    return this.clearAll();
  }

  // --- internals ---------------------------------------------------------------------------

  private validParams(type: FaultType, p: FaultParams): FaultParams {
    const out = create(FaultParamsSchema, {});
    switch (type) {
      case FaultType.DELAY:
        within("params.delay_ms", p.delayMs, 1, MAX_DELAY_MS);
        within("params.jitter_ms", p.jitterMs, 0, MAX_DELAY_MS);
        out.delayMs = p.delayMs;
        out.jitterMs = p.jitterMs;
        break;
      case FaultType.PACKET_LOSS:
        within("params.loss_percent", p.lossPercent, 0, 100);
        out.lossPercent = p.lossPercent;
        break;
      case FaultType.ERROR_INJECT:
        within("params.error_rate", p.errorRate, 0, 1);
        out.errorRate = p.errorRate;
        break;
      case FaultType.CPU_HOG:
        out.cpuThreads = p.cpuThreads === 0 ? 1 : p.cpuThreads;
        within("params.cpu_threads", out.cpuThreads, 1, 64);
        break;
      case FaultType.MEMORY_LEAK:
        within("params.memory_mb", Number(p.memoryMb), 1, 16384);
        out.memoryMb = p.memoryMb;
        break;
    }
    return out;
  }

  private crash(id: string, target: string, params: FaultParams): Fault {
    let pid: number;
    try {
      pid = this.deps.crash(target);
    } catch (err) {
      if (err instanceof ConnectError) throw new ConnectError(`chaos: cannot crash ${JSON.stringify(target)}: ${err.rawMessage}`, err.code);
      throw err;
    }
    const now = BigInt(Math.round(this.deps.clock.wallNow()));
    const fault = create(FaultSchema, {
      id,
      target,
      type: FaultType.CRASH,
      params,
      startedAtMs: now,
      description: `kill -9 of ${target} (pid ${pid})`,
      affected: BigInt(pid),
    });
    this.deps.onEvent?.(target, `chaos: ${id}: ${fault.description}`, "warn");
    this.emit(FaultEventKind.CRASHED, fault);
    return fault;
  }

  private remove(a: Active, kind: FaultEventKind.EXPIRED | FaultEventKind.CLEARED): Fault {
    this.active.delete(a.id);
    if (a.timer !== undefined) this.deps.scheduler.clearTimeout(a.timer);
    a.timer = undefined;
    a.hog?.stop();
    a.hog = undefined;
    this.rebuildNet();
    const fault = this.toFault(a);
    fault.remainingMs = 0n;
    const how = kind === FaultEventKind.EXPIRED ? "expired" : "cleared";
    this.deps.onEvent?.(a.target, `chaos: ${a.id} ${how} (${a.description}; affected ${a.affected})`, "info");
    this.emit(kind, fault);
    return fault;
  }

  private rebuildNet(): void {
    const next = new Map<string, NetFault[]>();
    for (const a of this.active.values()) {
      if (!a.net) continue;
      let list = next.get(a.target);
      if (!list) next.set(a.target, (list = []));
      list.push(a.net);
    }
    this.net = new Map([...next].map(([k, v]) => [k, Object.freeze(v)]));
  }

  private toFault(a: Active): Fault {
    const remaining = a.durationMs > 0 ? Math.max(0, a.startedAt + a.durationMs - this.deps.clock.now()) : 0;
    return create(FaultSchema, {
      id: a.id,
      target: a.target,
      type: a.type,
      params: a.params,
      startedAtMs: BigInt(Math.round(a.startedAtWall)),
      expiresAtMs: a.durationMs > 0 ? BigInt(Math.round(a.startedAtWall + a.durationMs)) : 0n,
      remainingMs: BigInt(Math.round(remaining)),
      description: a.description,
      affected: BigInt(a.affected),
    });
  }

  private emit(kind: FaultEventKind, fault: Fault): void {
    const ev = create(FaultEventSchema, { kind, fault, atMs: BigInt(Math.round(this.deps.clock.wallNow())) });
    for (const l of this.listeners) l(ev);
  }
}

function describe(type: FaultType, target: string, p: FaultParams): string {
  switch (type) {
    case FaultType.DELAY:
      return `+${p.delayMs} ms${p.jitterMs > 0 ? ` (+0–${p.jitterMs} ms jitter)` : ""} on every request to ${target}`;
    case FaultType.PACKET_LOSS:
      return `${p.lossPercent}% of requests to ${target} reset`;
    case FaultType.ERROR_INJECT:
      return `${Math.round(p.errorRate * 1000) / 10}% of RPCs to ${target} fail with UNAVAILABLE`;
    case FaultType.CPU_HOG:
      return `${p.cpuThreads} busy thread${p.cpuThreads === 1 ? "" : "s"} beside ${target}`;
    case FaultType.MEMORY_LEAK:
      return `${p.memoryMb} MB held beside ${target}`;
    default:
      return `${typeName(type) ?? type} on ${target}`;
  }
}
