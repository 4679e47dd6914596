// Turns the store's instances and edges into what the graph draws: one node per service name
// (the newest live instance wins over a lingering dead one), edges between present names.

import type { EdgeView, NodeView } from "./adapters";

export function nodesByName(nodes: Record<string, NodeView>): Map<string, NodeView> {
  const out = new Map<string, NodeView>();
  for (const n of Object.values(nodes)) {
    const cur = out.get(n.name);
    if (!cur || better(n, cur)) out.set(n.name, n);
  }
  return out;
}

function better(a: NodeView, b: NodeView): boolean {
  const aDead = a.state === "DEAD";
  const bDead = b.state === "DEAD";
  if (aDead !== bDead) return !aDead;
  return a.registeredAtMs > b.registeredAtMs;
}

export function visibleEdges(edges: Record<string, EdgeView>, names: Set<string>): EdgeView[] {
  return Object.values(edges)
    .filter((e) => names.has(e.source) && names.has(e.target))
    .sort((a, b) => a.id.localeCompare(b.id));
}

/** Requests per second flowing into and out of a service name. */
export function trafficOf(name: string, edges: EdgeView[]): { inRps: number; outRps: number } {
  let inRps = 0;
  let outRps = 0;
  for (const e of edges) {
    if (e.target === name) inRps += e.requestsPerSecond;
    if (e.source === name) outRps += e.requestsPerSecond;
  }
  return { inRps, outRps };
}
