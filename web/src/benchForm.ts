// The Benchmark form's model: its fields as typed text, the defaults, and the validation that
// turns them into a request (plain numbers; useBenchActions makes the wire message). Pure, so the
// form's rules are tested without a browser.

export const BENCH_MODES = ["duckdb", "monolith", "split"] as const;
export type BenchModeChoice = (typeof BENCH_MODES)[number];

export const DISTRIBUTIONS = ["uniform", "zipf", "burst"] as const;
export type Distribution = (typeof DISTRIBUTIONS)[number];

export const EVENT_PRESETS = [
  { label: "100k", events: 100_000 },
  { label: "1M", events: 1_000_000 },
  { label: "10M", events: 10_000_000 },
] as const;

/** Bounds the server enforces too (see benchmark.proto); checked here for a message at once. */
export const LIMITS = {
  events: [1, 100_000_000],
  batchSize: [0, 1_000_000],
  partitions: [0, 64],
  warmup: [0, 10],
  runs: [1, 20],
  scaling: [1, 64],
} as const;

export interface BenchFormValues {
  modes: Record<BenchModeChoice, boolean>;
  /** Text as typed: "20000", "20,000", "100k", "1M". */
  events: string;
  distribution: Distribution;
  batchSize: string;
  partitions: string;
  warmup: string;
  runs: string;
  /** Partition counts for the scaling sweep, e.g. "1,2,4,8"; empty: none. */
  scaling: string;
}

export const DEFAULT_FORM: BenchFormValues = {
  modes: { duckdb: true, monolith: true, split: true },
  events: "1000000",
  distribution: "uniform",
  batchSize: "0",
  partitions: "0",
  warmup: "1",
  runs: "3",
  scaling: "",
};

/** What the form asks the server for (numbers, not wire types). */
export interface BenchRequest {
  modes: BenchModeChoice[];
  events: number;
  distribution: Distribution;
  batchSize: number;
  partitions: number;
  warmupRuns: number;
  runs: number;
  scalingPartitions: number[];
  /** Leave out the split's pass-through chain (the chaos run has no use for it). */
  skipPassthrough?: boolean;
}

export type FormField = "modes" | "events" | "batchSize" | "partitions" | "warmup" | "runs" | "scaling";
export type FormErrors = Partial<Record<FormField, string>>;
export type FormResult = { ok: true; request: BenchRequest } | { ok: false; errors: FormErrors };

/** A whole number from text: digits with optional , _ or space separators, or a k / M suffix
 *  ("100k", "1.5M"). Null for anything else (fractions, negatives, "1e6"). */
export function parseCount(text: string): number | null {
  const t = text.trim().replace(/[,_ ]/g, "");
  const m = /^(\d+(?:\.\d+)?)([kKmM]?)$/.exec(t);
  if (!m) return null;
  const scale = m[2] === "" ? 1 : m[2].toLowerCase() === "k" ? 1e3 : 1e6;
  const n = Number(m[1]) * scale;
  // "1.5" alone is not a count; "1.5M" is.
  return Number.isSafeInteger(n) && (scale > 1 || !m[1].includes(".")) ? n : null;
}

function inRange(text: string, name: string, [lo, hi]: readonly [number, number]): number | string {
  const n = parseCount(text);
  if (n === null) return `${name}: "${text}" is not a whole number`;
  if (n < lo || n > hi) return `${name}: ${n.toLocaleString("en-US")} is outside ${lo.toLocaleString("en-US")}–${hi.toLocaleString("en-US")}`;
  return n;
}

/** "1,2,4,8" or "1 2 4 8" → [1, 2, 4, 8]; a message naming the bad entry otherwise. */
export function parseScaling(text: string): number[] | string {
  const parts = text.split(/[\s,;]+/).filter((p) => p !== "");
  const out: number[] = [];
  for (const p of parts) {
    const n = /^\d+$/.test(p) ? Number(p) : null;
    const [lo, hi] = LIMITS.scaling;
    if (n === null || n < lo || n > hi) return `scaling: "${p}" is not a partition count ${lo}–${hi}`;
    if (out.includes(n)) return `scaling: ${n} is listed twice`;
    out.push(n);
  }
  return out;
}

export function validateForm(v: BenchFormValues): FormResult {
  const errors: FormErrors = {};
  const modes = BENCH_MODES.filter((m) => v.modes[m]);
  if (modes.length === 0) errors.modes = "pick at least one mode";
  const num = (field: Exclude<FormField, "modes" | "scaling">, text: string, name: string): number => {
    const r = inRange(text, name, LIMITS[field === "warmup" ? "warmup" : field]);
    if (typeof r === "string") {
      errors[field] = r;
      return 0;
    }
    return r;
  };
  const events = num("events", v.events, "events");
  const batchSize = num("batchSize", v.batchSize, "batch size");
  const partitions = num("partitions", v.partitions, "partitions");
  const warmupRuns = num("warmup", v.warmup, "warm-up runs");
  const runs = num("runs", v.runs, "runs");
  const scaling = parseScaling(v.scaling);
  if (typeof scaling === "string") errors.scaling = scaling;
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    request: { modes, events, distribution: v.distribution, batchSize, partitions, warmupRuns, runs, scalingPartitions: scaling as number[] },
  };
}
