// Adapters from wire messages to the small view props components use, so components and their
// tests never touch protobuf.

import {
  ConnectionState,
  HealthState,
  ServiceLanguage,
  ServiceType,
  type ServiceEdge,
  type ServiceNode,
} from "@modular-runtime/proto/runtime/v1/topology";
import type { ViewHealth, ViewState } from "./theme";

export interface NodeView {
  id: string;
  name: string;
  type: "SERVER" | "CLIENT" | "HYBRID" | "UNSPECIFIED";
  language: string;
  version: string;
  address: string;
  host: string;
  pid: number;
  processName: string;
  state: ViewState;
  health: ViewHealth;
  healthMessage: string;
  cpuPercent?: number;
  rssBytes?: number;
  registeredAtMs: number;
  lastHeartbeatAtMs: number;
  heartbeatIntervalMs: number;
  lastSequence: number;
  deadReason: string;
  restartCount: number;
  dependencies: string[];
  metadata: Record<string, string>;
}

export interface EdgeView {
  id: string;
  source: string;
  target: string;
  state: ViewState;
  declared: boolean;
  requestsPerSecond: number;
  itemsPerSecond: number;
  errorsPerSecond: number;
  latencyAvgMs: number;
  latencyMaxMs: number;
  totalRequests: number;
  totalErrors: number;
  lastError: string;
  methods: string[];
}

function enumName<T extends Record<number, string>>(e: T, v: number, prefix: string): string {
  const name = e[v];
  return typeof name === "string" ? name.replace(prefix, "") : "UNSPECIFIED";
}

export function toViewState(s: ConnectionState): ViewState {
  switch (s) {
    case ConnectionState.REGISTERED:
      return "REGISTERED";
    case ConnectionState.IDLE:
      return "IDLE";
    case ConnectionState.ACTIVE:
      return "ACTIVE";
    case ConnectionState.STALE:
      return "STALE";
    case ConnectionState.DEAD:
      return "DEAD";
    default:
      return "UNKNOWN";
  }
}

export function toNodeView(n: ServiceNode): NodeView {
  return {
    id: n.instanceId,
    name: n.name,
    type: enumName(ServiceType, n.type, "") as NodeView["type"],
    language: enumName(ServiceLanguage, n.language, ""),
    version: n.version,
    address: n.address,
    host: n.host,
    pid: n.pid,
    processName: n.processName,
    state: toViewState(n.state),
    health: (n.health ? enumName(HealthState, n.health.state, "") : "UNKNOWN") as ViewHealth,
    healthMessage: n.health?.message ?? "",
    cpuPercent: n.metrics?.cpuPercent,
    rssBytes: n.metrics?.rssBytes !== undefined ? Number(n.metrics.rssBytes) : undefined,
    registeredAtMs: Number(n.registeredAtMs),
    lastHeartbeatAtMs: Number(n.lastHeartbeatAtMs),
    heartbeatIntervalMs: n.heartbeatIntervalMs,
    lastSequence: Number(n.lastSequence),
    deadReason: n.deadReason,
    restartCount: n.restartCount,
    dependencies: [...n.dependencies],
    metadata: { ...n.metadata },
  };
}

export function toEdgeView(e: ServiceEdge): EdgeView {
  return {
    id: e.id,
    source: e.source,
    target: e.target,
    state: toViewState(e.state),
    declared: e.declared,
    requestsPerSecond: e.requestsPerSecond,
    itemsPerSecond: e.itemsPerSecond,
    errorsPerSecond: e.errorsPerSecond,
    latencyAvgMs: e.latencyAvgMs,
    latencyMaxMs: e.latencyMaxMs,
    totalRequests: Number(e.totalRequests),
    totalErrors: Number(e.totalErrors),
    lastError: e.lastError,
    methods: [...e.methods],
  };
}

/** "12 req/s", "1.2k req/s", "0.4 req/s". */
export function formatRate(perSecond: number, unit = "req/s"): string {
  if (perSecond >= 10_000) return `${(perSecond / 1000).toFixed(0)}k ${unit}`;
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k ${unit}`;
  if (perSecond >= 10) return `${perSecond.toFixed(0)} ${unit}`;
  return `${perSecond.toFixed(1)} ${unit}`;
}

export function formatBytes(n: number | undefined): string {
  if (n === undefined) return "–";
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(0)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(0)} KiB`;
  return `${n} B`;
}

export function formatAge(ms: number): string {
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s`;
}

/** Edge stroke width grows with the logarithm of the rate, capped so labels stay readable. */
export function edgeWidth(requestsPerSecond: number): number {
  if (requestsPerSecond <= 0) return 1.5;
  return Math.min(9, 2 + Math.log10(1 + requestsPerSecond) * 2);
}
