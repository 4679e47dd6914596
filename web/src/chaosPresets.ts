// What a speaker can inject, as plain requests: the presets (resolved against the processes the
// supervisor lists, so a preset whose target is not configured is disabled), the one-click
// actions on a node, and the custom form's validation. Pure, so every rule is unit-tested.

import { FaultType } from "@modular-runtime/proto/runtime/v1/chaos";
import type { NodeView } from "./adapters";
import type { FaultTypeName } from "./chaosAdapters";
import type { ProcessView, ProcessViewState } from "./processAdapters";

/** InjectFaultRequest as plain values (useChaosActions sends it as is). */
export interface FaultRequest {
  target: string;
  type: FaultType;
  /** 0 = until cleared; ignored for CRASH. */
  durationMs: number;
  params: {
    delayMs?: number;
    jitterMs?: number;
    lossPercent?: number;
    errorRate?: number;
    cpuThreads?: number;
    memoryMb?: bigint;
  };
}

/** The split pipeline's stages, in chain order. */
export const PIPELINE_STAGES = ["ingest", "parse", "rules", "aggregate", "sink"] as const;

/** A process the presets may aim at: its name and whether it runs. */
export type TargetProcess = Pick<ProcessView, "name" | "state">;

const RUNNING: readonly ProcessViewState[] = ["RUNNING", "STARTING"];

export interface ChaosPreset {
  id: string;
  type: FaultType;
  /** Candidates in order of preference; the first configured one is the target. */
  targets: readonly string[];
  /** Pick one of the configured (preferably running) candidates at random instead. */
  random?: boolean;
  durationMs: number;
  params: FaultRequest["params"];
  /** The button's text; `{target}` is replaced by the chosen target. */
  label: string;
}

export const CHAOS_PRESETS: readonly ChaosPreset[] = [
  { id: "kill-parse", type: FaultType.CRASH, targets: ["parse"], durationMs: 0, params: {}, label: "Kill parse" },
  { id: "kill-random-stage", type: FaultType.CRASH, targets: PIPELINE_STAGES, random: true, durationMs: 0, params: {}, label: "Kill a random pipeline stage" },
  // The sink: the repository's config puts a fault proxy there (latency on the last hop backs the
  // whole chain up, and the proxy only carries folded batches).
  { id: "delay-sink", type: FaultType.DELAY, targets: ["sink", "aggregate"], durationMs: 30_000, params: { delayMs: 200 }, label: "+200 ms on {target} · 30 s" },
  { id: "errors-calculator", type: FaultType.ERROR_INJECT, targets: ["calculator-server"], durationMs: 30_000, params: { errorRate: 0.2 }, label: "20 % errors on calculator-server · 30 s" },
  { id: "cpu-hog", type: FaultType.CPU_HOG, targets: ["aggregate", "parse", "calculator-server"], durationMs: 20_000, params: { cpuThreads: 2 }, label: "CPU hog beside {target} · 2 threads · 20 s" },
  { id: "memory-leak", type: FaultType.MEMORY_LEAK, targets: ["rules", "aggregate", "calculator-server"], durationMs: 20_000, params: { memoryMb: 512n }, label: "Memory leak 512 MB beside {target} · 20 s" },
];

export type ResolvedPreset = { ok: true; target: string; label: string; request: FaultRequest } | { ok: false; label: string; reason: string };

/** A preset against the configured processes: its target and request, or why it is disabled.
 *  `random` is [0, 1) (Math.random in the app, fixed in tests). */
export function resolvePreset(p: ChaosPreset, processes: readonly TargetProcess[], random: () => number = Math.random): ResolvedPreset {
  const configured = p.targets.filter((t) => processes.some((x) => x.name === t));
  const plainLabel = p.label.replace("{target}", p.targets[0]);
  if (configured.length === 0) {
    return { ok: false, label: plainLabel, reason: `${p.targets.join(" / ")} ${p.targets.length === 1 ? "is" : "are"} not in the config file` };
  }
  let target = configured[0];
  if (p.random) {
    // A kill needs a live process: prefer the running stages.
    const running = configured.filter((t) => RUNNING.includes(processes.find((x) => x.name === t)!.state));
    const pool = running.length > 0 ? running : configured;
    target = pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))];
  }
  return {
    ok: true,
    target,
    label: p.label.replace("{target}", target),
    request: { target, type: p.type, durationMs: p.durationMs, params: { ...p.params } },
  };
}

/** The supervised process behind a graph node: the name it registered with, else a configured
 *  process of the node's own name; "" when it is not a process of the config file. */
export function chaosTargetFor(node: Pick<NodeView, "name" | "processName">, processes: readonly TargetProcess[]): string {
  if (node.processName && processes.some((p) => p.name === node.processName)) return node.processName;
  if (processes.some((p) => p.name === node.name)) return node.name;
  // Registered with a process name the supervisor does not list (yet): let the server decide.
  return node.processName;
}

/** The three one-click actions on a node. */
export const NODE_ACTIONS = [
  { id: "kill", label: "Kill", type: FaultType.CRASH, durationMs: 0, params: {} },
  { id: "delay", label: "Add latency", hint: "+200 ms · 30 s", type: FaultType.DELAY, durationMs: 30_000, params: { delayMs: 200 } },
  { id: "errors", label: "Inject errors", hint: "20 % · 30 s", type: FaultType.ERROR_INJECT, durationMs: 30_000, params: { errorRate: 0.2 } },
] as const satisfies readonly { id: string; label: string; hint?: string; type: FaultType; durationMs: number; params: FaultRequest["params"] }[];

export function nodeActionRequest(action: (typeof NODE_ACTIONS)[number], target: string): FaultRequest {
  return { target, type: action.type, durationMs: action.durationMs, params: { ...action.params } };
}

// ---- the custom form ----

export const CUSTOM_TYPES: readonly FaultTypeName[] = ["CRASH", "DELAY", "PACKET_LOSS", "ERROR_INJECT", "CPU_HOG", "MEMORY_LEAK"];

/** The one parameter field per type: its label, default, bounds (as in chaos.proto). */
export const PARAM_SPEC: Record<FaultTypeName, { label: string; unit: string; default: string; min: number; max: number; integer: boolean } | null> = {
  CRASH: null,
  DELAY: { label: "delay", unit: "ms", default: "200", min: 1, max: 60_000, integer: true },
  PACKET_LOSS: { label: "loss", unit: "%", default: "10", min: 0.1, max: 100, integer: false },
  ERROR_INJECT: { label: "errors", unit: "%", default: "20", min: 0.1, max: 100, integer: false },
  CPU_HOG: { label: "threads", unit: "", default: "2", min: 1, max: 64, integer: true },
  MEMORY_LEAK: { label: "memory", unit: "MB", default: "512", min: 1, max: 16_384, integer: true },
  UNKNOWN: null,
};

const WIRE_TYPE: Record<FaultTypeName, FaultType> = {
  CRASH: FaultType.CRASH,
  DELAY: FaultType.DELAY,
  PACKET_LOSS: FaultType.PACKET_LOSS,
  ERROR_INJECT: FaultType.ERROR_INJECT,
  CPU_HOG: FaultType.CPU_HOG,
  MEMORY_LEAK: FaultType.MEMORY_LEAK,
  UNKNOWN: FaultType.UNSPECIFIED,
};

export interface CustomFaultForm {
  target: string;
  type: FaultTypeName;
  /** As typed. */
  param: string;
  /** Seconds as typed; 0 = until cleared. */
  durationSeconds: string;
}

/** Longest deadline the wire can carry (uint32 ms), in whole seconds. */
const MAX_DURATION_S = Math.floor(0xffffffff / 1000);

export function customFaultRequest(f: CustomFaultForm): { request: FaultRequest; error: "" } | { request: null; error: string } {
  const fail = (error: string) => ({ request: null, error });
  if (!f.target) return fail("pick a target process");
  const type = WIRE_TYPE[f.type];
  if (type === FaultType.UNSPECIFIED) return fail(`unknown fault type ${f.type}`);
  let durationMs = 0;
  if (f.type !== "CRASH") {
    const text = f.durationSeconds.trim();
    const d = text === "" ? NaN : Number(text);
    if (!Number.isInteger(d) || d < 0 || d > MAX_DURATION_S) return fail(`duration: "${f.durationSeconds}" is not a whole number of seconds from 0 (until cleared) to ${MAX_DURATION_S}`);
    durationMs = d * 1000;
  }
  const spec = PARAM_SPEC[f.type];
  const params: FaultRequest["params"] = {};
  if (spec) {
    const text = f.param.trim();
    const v = text === "" ? NaN : Number(text);
    if (!Number.isFinite(v) || (spec.integer && !Number.isInteger(v)) || v < spec.min || v > spec.max) {
      return fail(`${spec.label}: "${f.param}" is outside ${spec.min}–${spec.max}${spec.unit ? ` ${spec.unit}` : ""}`);
    }
    if (f.type === "DELAY") params.delayMs = v;
    if (f.type === "PACKET_LOSS") params.lossPercent = v;
    if (f.type === "ERROR_INJECT") params.errorRate = v / 100;
    if (f.type === "CPU_HOG") params.cpuThreads = v;
    if (f.type === "MEMORY_LEAK") params.memoryMb = BigInt(v);
  }
  return { request: { target: f.target, type, durationMs, params }, error: "" };
}
