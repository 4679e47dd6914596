// Chaos wire messages → small view objects, and the texts the Chaos panel shows (fault names,
// parameters, countdowns). Components and their tests never touch protobuf.

import { FaultEventKind, FaultType, type Fault, type FaultEvent, type FaultParams } from "@modular-runtime/proto/runtime/v1/chaos";

export type FaultTypeName = "CRASH" | "DELAY" | "PACKET_LOSS" | "ERROR_INJECT" | "CPU_HOG" | "MEMORY_LEAK" | "UNKNOWN";
export type FaultEventKindName = "ACTIVE" | "INJECTED" | "EXPIRED" | "CLEARED" | "CRASHED" | "UNKNOWN";

export interface FaultParamsView {
  delayMs: number;
  jitterMs: number;
  lossPercent: number;
  /** 0–1. */
  errorRate: number;
  cpuThreads: number;
  memoryMb: number;
}

export interface FaultView {
  id: string;
  target: string;
  type: FaultTypeName;
  params: FaultParamsView;
  /** Server Unix ms. */
  startedAtMs: number;
  /** Server Unix ms; 0 = until cleared. */
  expiresAtMs: number;
  description: string;
  affected: number;
}

export interface FaultEventView {
  kind: FaultEventKindName;
  fault: FaultView;
  /** Server Unix ms. */
  atMs: number;
}

const TYPE_NAMES: Record<FaultType, FaultTypeName> = {
  [FaultType.UNSPECIFIED]: "UNKNOWN",
  [FaultType.CRASH]: "CRASH",
  [FaultType.DELAY]: "DELAY",
  [FaultType.PACKET_LOSS]: "PACKET_LOSS",
  [FaultType.ERROR_INJECT]: "ERROR_INJECT",
  [FaultType.CPU_HOG]: "CPU_HOG",
  [FaultType.MEMORY_LEAK]: "MEMORY_LEAK",
};

const KIND_NAMES: Record<FaultEventKind, FaultEventKindName> = {
  [FaultEventKind.UNSPECIFIED]: "UNKNOWN",
  [FaultEventKind.ACTIVE]: "ACTIVE",
  [FaultEventKind.INJECTED]: "INJECTED",
  [FaultEventKind.EXPIRED]: "EXPIRED",
  [FaultEventKind.CLEARED]: "CLEARED",
  [FaultEventKind.CRASHED]: "CRASHED",
};

/** What the speaker calls each fault type. */
export const FAULT_TYPE_LABEL: Record<FaultTypeName, string> = {
  CRASH: "kill -9",
  DELAY: "latency",
  PACKET_LOSS: "packet loss",
  ERROR_INJECT: "errors",
  CPU_HOG: "CPU hog",
  MEMORY_LEAK: "memory leak",
  UNKNOWN: "fault",
};

const EMPTY_PARAMS: FaultParamsView = { delayMs: 0, jitterMs: 0, lossPercent: 0, errorRate: 0, cpuThreads: 0, memoryMb: 0 };

function toParamsView(p: FaultParams | undefined): FaultParamsView {
  if (!p) return EMPTY_PARAMS;
  return {
    delayMs: p.delayMs,
    jitterMs: p.jitterMs,
    lossPercent: p.lossPercent,
    errorRate: p.errorRate,
    cpuThreads: p.cpuThreads,
    memoryMb: Number(p.memoryMb),
  };
}

export function toFaultView(f: Fault): FaultView {
  return {
    id: f.id,
    target: f.target,
    type: TYPE_NAMES[f.type] ?? "UNKNOWN",
    params: toParamsView(f.params),
    startedAtMs: Number(f.startedAtMs),
    expiresAtMs: Number(f.expiresAtMs),
    description: f.description,
    affected: Number(f.affected),
  };
}

const NO_FAULT: FaultView = { id: "", target: "", type: "UNKNOWN", params: EMPTY_PARAMS, startedAtMs: 0, expiresAtMs: 0, description: "", affected: 0 };

export function toFaultEventView(e: FaultEvent): FaultEventView {
  return { kind: KIND_NAMES[e.kind] ?? "UNKNOWN", fault: e.fault ? toFaultView(e.fault) : NO_FAULT, atMs: Number(e.atMs) };
}

const trim = (n: number, digits = 1) => String(+n.toFixed(digits));

/** The fault's strength in a few characters: "+200 ms", "20 % errors", "2 threads", "512 MB". */
export function faultParamText(type: FaultTypeName, p: FaultParamsView): string {
  switch (type) {
    case "CRASH":
      return "kill -9";
    case "DELAY":
      return `+${p.delayMs} ms${p.jitterMs > 0 ? ` ±${p.jitterMs}` : ""}`;
    case "PACKET_LOSS":
      return `${trim(p.lossPercent)} % loss`;
    case "ERROR_INJECT":
      return `${trim(p.errorRate * 100)} % errors`;
    case "CPU_HOG":
      return `CPU hog ${p.cpuThreads || 1} thread${(p.cpuThreads || 1) === 1 ? "" : "s"}`;
    case "MEMORY_LEAK":
      return `memory ${p.memoryMb} MB`;
    default:
      return "fault";
  }
}

/** Time left until a fault reverts by itself: "until cleared" without a deadline, "27 s" under a
 *  minute, "1:05" above; "0 s" once due (the server's EXPIRED event removes it). Both times are
 *  server Unix ms. */
export function formatCountdown(expiresAtMs: number, nowMs: number): string {
  if (expiresAtMs <= 0) return "until cleared";
  const left = Math.max(0, Math.ceil((expiresAtMs - nowMs) / 1000));
  if (left < 60) return `${left} s`;
  const m = Math.floor(left / 60);
  const s = left % 60;
  return `${m}:${String(s).padStart(2, "0")}`;
}
