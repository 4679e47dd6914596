// The topology registry: instances, their liveness state machine and the edges between service
// names with live traffic rates. Pure logic driven by an injected clock; `tick()` is called
// periodically by the owner (every 100 ms in production, by hand in tests).

import { randomUUID } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  ApplicationHealthSchema,
  ConnectionState,
  ServiceEdgeSchema,
  ServiceHandleSchema,
  ServiceLanguage,
  ServiceMetricsSchema,
  ServiceNodeSchema,
  ServiceType,
  type ActivityEvent,
  type ApplicationHealth,
  type RegisterServiceRequest,
  type ServiceEdge,
  type ServiceHandle,
  type ServiceMetrics,
  type ServiceNode,
} from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "../../clock.js";

export interface RegistryOptions {
  /** Heartbeat interval handed to every instance. */
  heartbeatIntervalMs: number;
  /** Missed intervals before STALE. */
  staleMultiplier: number;
  /** Missed intervals before DEAD. */
  deadMultiplier: number;
  /** Traffic within this window keeps an edge (and its nodes) ACTIVE. */
  activeWindowMs: number;
  /** Window over which edge rates are computed. */
  rateWindowMs: number;
  /** How long a DEAD instance stays visible before it is removed. */
  deadLingerMs: number;
  /** Upper bound on live instances, so a runaway client cannot exhaust memory. */
  maxInstances: number;
}

export const defaultRegistryOptions: RegistryOptions = {
  heartbeatIntervalMs: 5000,
  staleMultiplier: 2,
  deadMultiplier: 3,
  activeWindowMs: 3000,
  rateWindowMs: 5000,
  deadLingerMs: 3000,
  maxInstances: 10_000,
};

/** One change the watchers care about. `urgent` changes skip the per-watcher coalescing. */
export interface RegistryChange {
  kind: "node" | "edge";
  id: string;
  urgent: boolean;
}

export type ChangeListener = (changes: readonly RegistryChange[]) => void;

interface Instance {
  id: string;
  request: RegisterServiceRequest;
  state: ConnectionState;
  registeredAt: number;
  registeredAtWall: number;
  lastBeatAt: number;
  lastBeatAtWall: number;
  beaten: boolean;
  lastSequence: bigint;
  health?: ApplicationHealth;
  metrics?: ServiceMetrics;
  deadAt?: number;
  deadReason: string;
  restartCount: number;
}

/** One activity report on an edge and the span of time it covers. */
interface Sample {
  at: number;
  periodMs: number;
  requests: number;
  errors: number;
  items: number;
  latencySumUs: number;
  latencyMaxUs: number;
}

interface EdgeStats {
  source: string;
  target: string;
  firstSeenAt: number;
  lastActivityAt: number;
  /** When the previous report arrived; a report covers the time since then. */
  lastReportAt: number;
  samples: Sample[];
  totalRequests: bigint;
  totalErrors: bigint;
  lastError: string;
  methods: Set<string>;
  lastState: ConnectionState;
}

const NAME_PATTERN = /^[A-Za-z0-9._-]{1,100}$/;

export function edgeId(source: string, target: string): string {
  return `${source}->${target}`;
}

export class TopologyRegistry {
  private readonly opts: RegistryOptions;
  private readonly instances = new Map<string, Instance>();
  /** Ids of instances that died: their beats are refused forever (bounded, oldest forgotten). */
  private readonly deadIds = new Set<string>();
  private readonly stats = new Map<string, EdgeStats>();
  /** Edge ids currently visible, to detect appear/disappear. */
  private visibleEdges = new Set<string>();
  /** Deaths per service name, shown as the restart count of the name's next instance. */
  private readonly deathsByName = new Map<string, number>();
  private readonly listeners = new Set<ChangeListener>();
  private pending: RegistryChange[] = [];
  private revisionCounter = 0n;
  private restartCounter?: (processName: string) => number | undefined;
  private lookupAddress?: (node: ServiceNode) => string | undefined;

  constructor(
    private readonly clock: Clock,
    options: Partial<RegistryOptions> = {},
  ) {
    this.opts = { ...defaultRegistryOptions, ...options };
    for (const [k, v] of Object.entries(this.opts)) {
      if (!Number.isFinite(v) || v <= 0) throw new Error(`registry option ${k} must be a positive number, got ${v}`);
    }
    if (this.opts.deadMultiplier <= this.opts.staleMultiplier) {
      throw new Error(
        `registry option deadMultiplier (${this.opts.deadMultiplier}) must be greater than staleMultiplier (${this.opts.staleMultiplier})`,
      );
    }
  }

  get options(): Readonly<RegistryOptions> {
    return this.opts;
  }

  get revision(): bigint {
    return this.revisionCounter;
  }

  /** Lets the supervisor's restart counts (by process name) win over the registry's own. */
  setRestartCounter(counter: (processName: string) => number | undefined): void {
    this.restartCounter = counter;
  }

  /**
   * Lets another component (the chaos fault proxies) answer lookups with a different address
   * for some instances. The graph (nodes(), GetTopology) keeps the address they registered.
   */
  setLookupAddress(resolve: (node: ServiceNode) => string | undefined): void {
    this.lookupAddress = resolve;
  }

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  register(req: RegisterServiceRequest): ServiceHandle {
    if (!NAME_PATTERN.test(req.name)) {
      throw new ConnectError(
        `invalid service name ${JSON.stringify(req.name)}: use 1-100 characters of A-Z a-z 0-9 . _ -`,
        Code.InvalidArgument,
      );
    }
    if (!(req.language in ServiceLanguage)) {
      throw new ConnectError(`invalid language ${req.language} for service ${req.name}`, Code.InvalidArgument);
    }
    if (!(req.type in ServiceType)) {
      throw new ConnectError(`invalid service type ${req.type} for service ${req.name}`, Code.InvalidArgument);
    }
    if (req.address !== "" && !/^[^\s/]+:\d{1,5}$/.test(req.address)) {
      throw new ConnectError(
        `invalid address ${JSON.stringify(req.address)} for service ${req.name}: expected host:port`,
        Code.InvalidArgument,
      );
    }
    for (const dep of req.dependencies) {
      if (!NAME_PATTERN.test(dep)) {
        throw new ConnectError(`invalid dependency name ${JSON.stringify(dep)} for service ${req.name}`, Code.InvalidArgument);
      }
    }
    if (Object.keys(req.metadata).length > 32) {
      throw new ConnectError(`too many metadata entries (${Object.keys(req.metadata).length} > 32) for service ${req.name}`, Code.InvalidArgument);
    }
    if (this.instances.size >= this.opts.maxInstances) {
      throw new ConnectError(`registry is full (${this.opts.maxInstances} instances)`, Code.ResourceExhausted);
    }
    const now = this.clock.now();
    const wall = this.clock.wallNow();
    const inst: Instance = {
      id: randomUUID(),
      request: req,
      state: ConnectionState.REGISTERED,
      registeredAt: now,
      registeredAtWall: wall,
      lastBeatAt: now,
      lastBeatAtWall: wall,
      beaten: false,
      lastSequence: 0n,
      deadReason: "",
      restartCount: this.deathsByName.get(req.name) ?? 0,
    };
    this.instances.set(inst.id, inst);
    this.emit({ kind: "node", id: inst.id, urgent: true });
    this.refreshEdges();
    this.flush();
    return create(ServiceHandleSchema, {
      instanceId: inst.id,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      timeoutMultiplier: this.opts.deadMultiplier,
      staleMultiplier: this.opts.staleMultiplier,
    });
  }

  /** Records a heartbeat. Throws NOT_FOUND for an unknown or dead instance. */
  heartbeat(instanceId: string, sequence: bigint, metrics?: ServiceMetrics, health?: ApplicationHealth): void {
    const inst = this.liveInstance(instanceId, "heartbeat");
    inst.lastBeatAt = this.clock.now();
    inst.lastBeatAtWall = this.clock.wallNow();
    inst.beaten = true;
    if (sequence > inst.lastSequence) inst.lastSequence = sequence;
    if (metrics) inst.metrics = metrics;
    if (health) inst.health = health;
    const before = inst.state;
    this.updateInstanceState(inst);
    this.emit({ kind: "node", id: inst.id, urgent: before !== inst.state });
    this.flush();
  }

  reportActivity(instanceId: string, events: readonly ActivityEvent[]): number {
    const inst = this.liveInstance(instanceId, "activity report");
    const now = this.clock.now();
    let accepted = 0;
    const touched = new Set<EdgeStats>();
    for (const ev of events) {
      if (!NAME_PATTERN.test(ev.targetService)) {
        throw new ConnectError(`invalid target_service ${JSON.stringify(ev.targetService)} in activity report`, Code.InvalidArgument);
      }
      if (ev.count < 1 || ev.errorCount < 0 || ev.errorCount > ev.count) {
        throw new ConnectError(
          `invalid activity counts for ${ev.targetService}: count ${ev.count}, error_count ${ev.errorCount}`,
          Code.InvalidArgument,
        );
      }
    }
    for (const ev of events) {
      const id = edgeId(inst.request.name, ev.targetService);
      let st = this.stats.get(id);
      if (!st) {
        st = {
          source: inst.request.name,
          target: ev.targetService,
          firstSeenAt: now,
          lastActivityAt: now,
          lastReportAt: Number.NaN,
          samples: [],
          totalRequests: 0n,
          totalErrors: 0n,
          lastError: "",
          methods: new Set(),
          lastState: ConnectionState.IDLE,
        };
        this.stats.set(id, st);
      }
      // Several records of one report (different methods) share one sample.
      let sample = touched.has(st) ? st.samples[st.samples.length - 1] : undefined;
      if (!sample) {
        // A report covers the time since the previous one (reporters send about once a
        // second); the first one, or one after a long pause, is taken to cover one second.
        const since = now - st.lastReportAt;
        const periodMs = Number.isFinite(since) && since > 0 && since <= this.opts.rateWindowMs ? since : 1000;
        sample = { at: now, periodMs, requests: 0, errors: 0, items: 0, latencySumUs: 0, latencyMaxUs: 0 };
        st.samples.push(sample);
        st.lastReportAt = now;
        touched.add(st);
        while (st.samples.length > 0 && st.samples[0].at <= now - this.opts.rateWindowMs) st.samples.shift();
      }
      st.lastActivityAt = now;
      sample.requests += ev.count;
      sample.errors += ev.errorCount;
      sample.items += Number(ev.itemCount);
      sample.latencySumUs += Number(ev.latencySumUs);
      sample.latencyMaxUs = Math.max(sample.latencyMaxUs, Number(ev.latencyMaxUs));
      st.totalRequests += BigInt(ev.count);
      st.totalErrors += BigInt(ev.errorCount);
      if (ev.lastError) st.lastError = ev.lastError.slice(0, 500);
      if (ev.method && st.methods.size < 32) st.methods.add(ev.method);
      accepted++;
    }
    this.refreshEdges();
    this.refreshActivityStates();
    this.flush();
    return accepted;
  }

  unregister(instanceId: string): void {
    const inst = this.instances.get(instanceId);
    if (!inst) {
      throw new ConnectError(`unknown instance ${JSON.stringify(instanceId)}`, Code.NotFound);
    }
    this.kill(inst, "unregistered", false);
    this.remove(inst);
    this.flush();
  }

  /** The supervisor saw the process exit: every instance it hosted is DEAD at once. */
  markProcessExited(processName: string, detail: string): number {
    let n = 0;
    for (const inst of this.instances.values()) {
      if (inst.request.processName === processName && inst.state !== ConnectionState.DEAD) {
        this.kill(inst, `process exited (${detail})`, true);
        n++;
      }
    }
    this.flush();
    return n;
  }

  /** Applies timeouts, activity windows and removals. Cheap; call often. */
  tick(): void {
    const now = this.clock.now();
    for (const inst of [...this.instances.values()]) {
      if (inst.state === ConnectionState.DEAD) {
        if (now - (inst.deadAt ?? now) >= this.opts.deadLingerMs) this.remove(inst);
        continue;
      }
      const silence = now - inst.lastBeatAt;
      if (silence > this.opts.heartbeatIntervalMs * this.opts.deadMultiplier) {
        this.kill(inst, `heartbeat timeout (${Math.round(silence)} ms without a beat)`, true);
        continue;
      }
      const before = inst.state;
      this.updateInstanceState(inst);
      if (before !== inst.state) this.emit({ kind: "node", id: inst.id, urgent: true });
    }
    this.refreshActivityStates();
    // Rates decay while traffic winds down; report them (coalesced by the watchers).
    for (const [id, st] of this.stats) {
      if (now - st.lastActivityAt <= this.opts.rateWindowMs + 1000) this.emit({ kind: "edge", id, urgent: false });
    }
    this.flush();
  }

  getNode(id: string): ServiceNode | undefined {
    const inst = this.instances.get(id);
    return inst ? this.toNode(inst) : undefined;
  }

  getEdge(id: string): ServiceEdge | undefined {
    return this.visibleEdges.has(id) ? this.toEdge(id) : undefined;
  }

  nodes(): ServiceNode[] {
    return [...this.instances.values()].map((i) => this.toNode(i));
  }

  edges(): ServiceEdge[] {
    return [...this.visibleEdges].sort().map((id) => this.toEdge(id));
  }

  /** Live (not STALE, not DEAD) instances of a name, newest first, with the address to call. */
  lookup(name: string): ServiceNode[] {
    return [...this.instances.values()]
      .filter(
        (i) => i.request.name === name && i.state !== ConnectionState.DEAD && i.state !== ConnectionState.STALE,
      )
      .sort((a, b) => b.registeredAt - a.registeredAt)
      .map((i) => {
        const node = this.toNode(i);
        const address = this.lookupAddress?.(node);
        if (address) node.address = address;
        return node;
      });
  }

  // --- internals ---------------------------------------------------------------------------

  private liveInstance(instanceId: string, what: string): Instance {
    const inst = this.instances.get(instanceId);
    if (!inst || inst.state === ConnectionState.DEAD) {
      const why = inst || this.deadIds.has(instanceId) ? "is dead" : "is unknown";
      throw new ConnectError(
        `${what} refused: instance ${JSON.stringify(instanceId)} ${why}; register again for a new instance id`,
        Code.NotFound,
      );
    }
    return inst;
  }

  private kill(inst: Instance, reason: string, countsAsRestart: boolean): void {
    if (inst.state === ConnectionState.DEAD) return;
    inst.state = ConnectionState.DEAD;
    inst.deadAt = this.clock.now();
    inst.deadReason = reason;
    this.deadIds.add(inst.id);
    if (this.deadIds.size > 100_000) {
      const first = this.deadIds.values().next().value;
      if (first !== undefined) this.deadIds.delete(first);
    }
    if (countsAsRestart) {
      this.deathsByName.set(inst.request.name, (this.deathsByName.get(inst.request.name) ?? 0) + 1);
    }
    this.emit({ kind: "node", id: inst.id, urgent: true });
    this.refreshActivityStates();
  }

  private remove(inst: Instance): void {
    this.instances.delete(inst.id);
    this.emit({ kind: "node", id: inst.id, urgent: true });
    this.refreshEdges();
  }

  private updateInstanceState(inst: Instance): void {
    if (inst.state === ConnectionState.DEAD) return;
    const now = this.clock.now();
    const silence = now - inst.lastBeatAt;
    if (silence > this.opts.heartbeatIntervalMs * this.opts.staleMultiplier) {
      inst.state = ConnectionState.STALE;
    } else if (!inst.beaten) {
      inst.state = ConnectionState.REGISTERED;
    } else {
      inst.state = this.nameIsActive(inst.request.name) ? ConnectionState.ACTIVE : ConnectionState.IDLE;
    }
  }

  private edgeIsActive(st: EdgeStats): boolean {
    return this.clock.now() - st.lastActivityAt <= this.opts.activeWindowMs;
  }

  private nameIsActive(name: string): boolean {
    for (const st of this.stats.values()) {
      if ((st.source === name || st.target === name) && this.edgeIsActive(st)) return true;
    }
    return false;
  }

  /** Re-derives ACTIVE/IDLE for edges and instances after traffic or time moved. */
  private refreshActivityStates(): void {
    for (const [id, st] of this.stats) {
      const state = this.edgeIsActive(st) ? ConnectionState.ACTIVE : ConnectionState.IDLE;
      if (state !== st.lastState) {
        st.lastState = state;
        if (this.visibleEdges.has(id)) this.emit({ kind: "edge", id, urgent: true });
      }
    }
    for (const inst of this.instances.values()) {
      const before = inst.state;
      this.updateInstanceState(inst);
      if (before !== inst.state) this.emit({ kind: "node", id: inst.id, urgent: true });
    }
  }

  /** An edge is visible while its source name has an instance and it was declared or used. */
  private refreshEdges(): void {
    const sources = new Map<string, Set<string>>();
    for (const inst of this.instances.values()) {
      let deps = sources.get(inst.request.name);
      if (!deps) sources.set(inst.request.name, (deps = new Set()));
      for (const d of inst.request.dependencies) deps.add(d);
    }
    const next = new Set<string>();
    for (const [name, deps] of sources) for (const d of deps) next.add(edgeId(name, d));
    for (const [id, st] of this.stats) if (sources.has(st.source)) next.add(id);
    for (const id of next) if (!this.visibleEdges.has(id)) this.emit({ kind: "edge", id, urgent: true });
    for (const id of this.visibleEdges) if (!next.has(id)) this.emit({ kind: "edge", id, urgent: true });
    this.visibleEdges = next;
    // Forget traffic statistics of edges whose source is gone, so a new instance starts clean.
    for (const id of this.stats.keys()) if (!next.has(id)) this.stats.delete(id);
  }

  private declared(source: string, target: string): boolean {
    for (const inst of this.instances.values()) {
      if (inst.request.name === source && inst.request.dependencies.includes(target)) return true;
    }
    return false;
  }

  private toNode(inst: Instance): ServiceNode {
    const r = inst.request;
    return create(ServiceNodeSchema, {
      instanceId: inst.id,
      name: r.name,
      type: r.type,
      language: r.language,
      version: r.version,
      address: r.address,
      host: r.host,
      metadata: { ...r.metadata },
      dependencies: [...r.dependencies],
      pid: r.pid,
      processName: r.processName,
      state: inst.state,
      health: inst.health ?? create(ApplicationHealthSchema, {}),
      metrics: inst.metrics ?? create(ServiceMetricsSchema, {}),
      registeredAtMs: BigInt(Math.round(inst.registeredAtWall)),
      lastHeartbeatAtMs: BigInt(Math.round(inst.lastBeatAtWall)),
      heartbeatAgeMs: BigInt(Math.max(0, Math.round(this.clock.now() - inst.lastBeatAt))),
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      lastSequence: inst.lastSequence,
      deadReason: inst.deadReason,
      restartCount: (r.processName ? this.restartCounter?.(r.processName) : undefined) ?? inst.restartCount,
    });
  }

  private toEdge(id: string): ServiceEdge {
    const arrow = id.indexOf("->");
    const source = id.slice(0, arrow);
    const target = id.slice(arrow + 2);
    const st = this.stats.get(id);
    const edge = create(ServiceEdgeSchema, {
      id,
      source,
      target,
      state: ConnectionState.IDLE,
      declared: this.declared(source, target),
    });
    if (!st) return edge;
    // Rates over the reports of the last window divided by the time those reports cover: exact
    // for a steady reporter, whatever the phase of its reports against our clock.
    const now = this.clock.now();
    let requests = 0;
    let errors = 0;
    let items = 0;
    let latencySum = 0;
    let latencyMax = 0;
    let coveredMs = 0;
    for (const smp of st.samples) {
      if (smp.at <= now - this.opts.rateWindowMs) continue;
      requests += smp.requests;
      errors += smp.errors;
      items += smp.items;
      latencySum += smp.latencySumUs;
      latencyMax = Math.max(latencyMax, smp.latencyMaxUs);
      coveredMs += smp.periodMs;
    }
    // Once reports stop, the silence since the last one counts too, so rates decay to zero.
    const silence = Number.isFinite(st.lastReportAt) ? Math.max(0, now - st.lastReportAt - 1500) : 0;
    const spanSeconds = Math.max(0.001, (coveredMs + silence) / 1000);
    edge.state = this.edgeIsActive(st) ? ConnectionState.ACTIVE : ConnectionState.IDLE;
    edge.requestsPerSecond = requests / spanSeconds;
    edge.errorsPerSecond = errors / spanSeconds;
    edge.itemsPerSecond = items / spanSeconds;
    edge.latencyAvgMs = requests > 0 ? latencySum / requests / 1000 : 0;
    edge.latencyMaxMs = latencyMax / 1000;
    edge.totalRequests = st.totalRequests;
    edge.totalErrors = st.totalErrors;
    edge.lastError = st.lastError;
    edge.methods = [...st.methods].sort();
    return edge;
  }

  private emit(change: RegistryChange): void {
    this.pending.push(change);
  }

  private flush(): void {
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.revisionCounter++;
    for (const l of this.listeners) l(batch);
  }
}
