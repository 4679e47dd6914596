// One WatchTopology subscriber: collects the registry's changes and turns them into deltas.
// Metric-only changes are coalesced to at most one message per `coalesceMs`; state changes,
// appearances and removals go out at once (on the next macrotask, so a burst of simultaneous
// changes still becomes one message).

import { create } from "@bufbuild/protobuf";
import { TopologyUpdateSchema, type TopologyUpdate } from "@modular-runtime/proto/runtime/v1/topology";
import type { Clock } from "../../clock.js";
import type { RegistryChange, TopologyRegistry } from "./registry.js";

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemScheduler: Scheduler = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** The whole graph as the first message of a stream (or after a resync). */
export function fullSnapshot(registry: TopologyRegistry, clock: Clock): TopologyUpdate {
  return create(TopologyUpdateSchema, {
    fullSnapshot: true,
    nodes: registry.nodes(),
    edges: registry.edges(),
    revision: registry.revision,
    serverTimeMs: BigInt(Math.round(clock.wallNow())),
  });
}

export class TopologyWatcher {
  private readonly dirtyNodes = new Set<string>();
  private readonly dirtyEdges = new Set<string>();
  private lastSentAt = -Infinity;
  private timer: unknown = undefined;
  private timerIsUrgent = false;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    private readonly registry: TopologyRegistry,
    private readonly clock: Clock,
    private readonly scheduler: Scheduler,
    private readonly send: (update: TopologyUpdate) => void,
    private readonly coalesceMs = 1000,
  ) {
    this.unsubscribe = registry.subscribe((changes) => this.onChanges(changes));
    this.send(fullSnapshot(registry, clock));
    this.lastSentAt = clock.now();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private onChanges(changes: readonly RegistryChange[]): void {
    if (this.closed) return;
    let urgent = false;
    for (const c of changes) {
      (c.kind === "node" ? this.dirtyNodes : this.dirtyEdges).add(c.id);
      urgent ||= c.urgent;
    }
    if (urgent) {
      if (this.timer !== undefined && this.timerIsUrgent) return;
      if (this.timer !== undefined) this.scheduler.clearTimeout(this.timer);
      this.timerIsUrgent = true;
      this.timer = this.scheduler.setTimeout(() => this.flush(), 0);
    } else if (this.timer === undefined) {
      const wait = Math.max(0, this.lastSentAt + this.coalesceMs - this.clock.now());
      this.timerIsUrgent = false;
      this.timer = this.scheduler.setTimeout(() => this.flush(), wait);
    }
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed || (this.dirtyNodes.size === 0 && this.dirtyEdges.size === 0)) return;
    const update = create(TopologyUpdateSchema, {
      fullSnapshot: false,
      revision: this.registry.revision,
      serverTimeMs: BigInt(Math.round(this.clock.wallNow())),
    });
    for (const id of this.dirtyNodes) {
      const node = this.registry.getNode(id);
      if (node) update.nodes.push(node);
      else update.removedNodeIds.push(id);
    }
    for (const id of this.dirtyEdges) {
      const edge = this.registry.getEdge(id);
      if (edge) update.edges.push(edge);
      else update.removedEdgeIds.push(id);
    }
    this.dirtyNodes.clear();
    this.dirtyEdges.clear();
    this.lastSentAt = this.clock.now();
    this.send(update);
  }
}
