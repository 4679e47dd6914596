// A version-2 benchmark report for the unit tests, with the figures of a real CLI run
// (reports/bench-sample, 200k events, trimmed: no per-run records), and helpers to vary it.

import type { BenchReport, ModeSummary } from "@modular-runtime/pipeline/report-types";

const SUM = "f8efb3cea34e3a6fee3af8987b0dfb4610147a603362bfec009aa5ce9d7292f1";

const summary = (mode: string, eps: [number, number, number], lat: [number, number, number] | null, checksum = SUM): ModeSummary => ({
  mode,
  label: mode,
  events: 200_000,
  bytes: 25_053_537,
  runs: 2,
  wallSeconds: { median: 200_000 / eps[0], min: 200_000 / eps[2], max: 200_000 / eps[1] },
  engineWallSeconds: null,
  eventsPerSecond: { median: eps[0], min: eps[1], max: eps[2] },
  engineEventsPerSecond: null,
  mbPerSecond: 20,
  p50Ms: lat?.[0] ?? null,
  p95Ms: lat?.[1] ?? null,
  p99Ms: lat?.[2] ?? null,
  peakRssMB: 100,
  cpuSeconds: 0.5,
  checksum,
});

export function sampleReport(): BenchReport {
  return {
    version: 2,
    id: "20261129T083557Z-53bf23",
    origin: "cli",
    startedAt: "2026-11-29T08:35:57.396Z",
    finishedAt: "2026-11-29T08:36:25.970Z",
    machine: {
      cores: 2,
      cpuModel: "Intel(R) Xeon(R) Processor",
      memoryGB: 23.5,
      freeMemoryGB: 22.8,
      kernel: "6.18.44-fc-v669",
      node: "v20.20.2",
      duckdb: "v1.5.6",
      toolchains: { "g++": "g++ (Debian 12.2.0-14+deb12u1) 12.2.0", go: "go version go1.26.8 linux/amd64" },
      gitCommit: "370b9f2",
    },
    loadAverage: { before: [0.85, 0.8, 1.09], after: [1.9, 1.06, 1.17] },
    options: {
      modes: ["duckdb", "duckdb-sql", "monolith", "split", "split-passthrough"],
      events: [200_000],
      runs: 2,
      warmup: 1,
      seed: 42,
      users: 10_000,
      days: 7,
      distribution: "uniform",
      scalingPartitions: [1, 2, 4],
    },
    inputs: [{ events: 200_000, path: "/tmp/events.ndjson", bytes: 25_053_537 }],
    // Deliberately not in display order: the adapters sort.
    summaries: [
      summary("split", [158_202.83, 154_307.24, 162_098.42], [64.06, 112.95, 118.01]),
      summary("duckdb", [123_726.84, 112_996.7, 134_456.98], null),
      summary("duckdb-sql", [162_910.46, 149_126.66, 176_694.26], null),
      summary("monolith", [1_834_040.1, 1_791_162.47, 1_876_917.72], [14.29, 18.22, 18.51]),
      summary("split-passthrough", [186_241.17, 174_582.19, 197_900.14], [129.73, 174.09, 183.45], ""),
    ],
    ratios: [
      {
        events: 200_000,
        monolithVsDuckdbSql: 11.257963974463518,
        monolithVsDuckdbSqlEngine: 3.96,
        monolithVsDuckdbOracle: 14.82,
        splitVsMonolith: 0.0862591994909097,
        splitVsMonolithEngine: 0.307,
        splitVsMonolithP99: 6.374897658979801,
        ipcCpuShare: 0.4417222312932804,
        passthroughCpuRatio: 0.8680863714723536,
      },
    ],
    processes: [
      { mode: "split", events: 200_000, name: "ingest", language: "typescript", cpuSeconds: 0.1473, peakRssMB: 194.83 },
      { mode: "split", events: 200_000, name: "pipeline run (client)", language: "typescript", cpuSeconds: 1.16, peakRssMB: 136.97 },
      { mode: "monolith", events: 200_000, name: "monolith", language: "c++", cpuSeconds: 0.135, peakRssMB: 45.34 },
      { mode: "duckdb", events: 200_000, name: "pipeline run --mode duckdb", language: "typescript + duckdb", cpuSeconds: null, peakRssMB: 251.05 },
    ],
    stages: [
      { mode: "split", events: 200_000, stage: "ingest", language: "typescript", busySeconds: 0.0395, waitSeconds: 0.1366, cpuSeconds: 0.1473, peakRssMB: 194.83, ipcShare: 0.7320966826686128 },
      { mode: "split", events: 200_000, stage: "parse", language: "rust", busySeconds: 0.1202, waitSeconds: 0.0408, cpuSeconds: 0.0795, peakRssMB: 25.49, ipcShare: 0 },
      { mode: "split", events: 200_000, stage: "rules", language: "python", busySeconds: 0.0084, waitSeconds: 0.156, cpuSeconds: 0.04, peakRssMB: 95.6, ipcShare: null },
      { mode: "split-passthrough", events: 200_000, stage: "ingest", language: "typescript", busySeconds: 0.045, waitSeconds: 0.131, cpuSeconds: 0.125, peakRssMB: 195.36, ipcShare: 0.62 },
    ],
    scaling: [
      { mode: "monolith", events: 200_000, partitions: 1, runs: 2, eventsPerSecond: { median: 1_936_246, min: 1_779_527, max: 2_092_965 }, aggregateEventsPerSecond: null, speedup: 1, efficiency: 1, checksum: SUM },
      { mode: "monolith", events: 200_000, partitions: 4, runs: 2, eventsPerSecond: { median: 1_713_470, min: 1_681_574, max: 1_745_366 }, aggregateEventsPerSecond: null, speedup: 0.885, efficiency: 0.221, checksum: SUM },
      { mode: "split", events: 200_000, partitions: 1, runs: 2, eventsPerSecond: { median: 138_698, min: 135_054, max: 142_342 }, aggregateEventsPerSecond: 1_842_599, speedup: 1, efficiency: 1, checksum: SUM },
      { mode: "split", events: 200_000, partitions: 2, runs: 2, eventsPerSecond: { median: 124_533, min: 120_010, max: 129_057 }, aggregateEventsPerSecond: 1_021_242, speedup: 0.898, efficiency: 0.449, checksum: SUM },
    ],
    runs: [],
    checksumsAgree: true,
    problems: [],
  };
}

export { SUM as SAMPLE_CHECKSUM };
