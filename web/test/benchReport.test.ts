import { describe, expect, it } from "vitest";
import { fmtEvents, fmtPct, fmtRate, fmtRatio } from "../src/benchAdapters";
import { diffReports, olderFirst } from "../src/benchDiff";
import {
  headlines,
  latencyRows,
  loadLine,
  machineLine,
  optionsLine,
  parseReport,
  processRows,
  reportSizes,
  scalingRows,
  stageRows,
  throughputRows,
  verdict,
} from "../src/benchReport";
import { SAMPLE_CHECKSUM, sampleReport } from "./benchFixture";

describe("bench report → view rows", () => {
  it("parses a version-2 report and says why it cannot show anything else", () => {
    const r = sampleReport();
    expect(parseReport(JSON.stringify(r)).report?.id).toBe("20261129T083557Z-53bf23");
    expect(parseReport("")).toEqual({ report: null, error: "this run has no report" });
    expect(parseReport("{").error).toMatch(/^the report is not JSON: /);
    expect(parseReport('{"date":"x"}')).toEqual({ report: null, error: "report version missing; this view reads version 2" });
    expect(parseReport('{"version":1}').error).toBe("report version 1; this view reads version 2");
  });

  it("gives the verdict per size with the modes behind each checksum, leaving out the pass-through", () => {
    const v = verdict(sampleReport());
    expect(v.agree).toBe(true);
    expect(v.sizes).toEqual([{ events: 200_000, groups: [{ checksum: SAMPLE_CHECKSUM, modes: ["duckdb", "duckdb-sql", "monolith", "split"] }] }]);
  });

  it("shows differing checksums as separate groups with the report's problems", () => {
    const r = sampleReport();
    r.summaries.find((s) => s.mode === "split")!.checksum = "deadbeef0000";
    r.checksumsAgree = false;
    r.problems = ["200000 events: checksums differ: split#1=deadbeef0000"];
    const v = verdict(r);
    expect(v.agree).toBe(false);
    expect(v.sizes[0].groups.map((g) => [g.checksum.slice(0, 12), g.modes])).toEqual([
      [SAMPLE_CHECKSUM.slice(0, 12), ["duckdb", "duckdb-sql", "monolith"]],
      ["deadbeef0000", ["split"]],
    ]);
    expect(v.problems).toHaveLength(1);
  });

  it("orders throughput by mode with the error-bar offsets from min and max", () => {
    const rows = throughputRows(sampleReport(), 200_000);
    expect(rows.map((r) => r.mode)).toEqual(["duckdb", "duckdb-sql", "monolith", "split", "split-passthrough"]);
    const mono = rows[2];
    expect(mono.median).toBe(1_834_040.1);
    expect(mono.range[0]).toBeCloseTo(1_834_040.1 - 1_791_162.47, 6);
    expect(mono.range[1]).toBeCloseTo(1_876_917.72 - 1_834_040.1, 6);
    expect(throughputRows(sampleReport(), 1_000_000)).toEqual([]);
  });

  it("charts latency only for modes with batches and names the others", () => {
    const { rows, missing } = latencyRows(sampleReport(), 200_000);
    expect(rows.map((r) => [r.mode, r.p99])).toEqual([
      ["monolith", 18.51],
      ["split", 118.01],
      ["split-passthrough", 183.45],
    ]);
    expect(missing).toEqual(["duckdb", "duckdb-sql"]);
  });

  it("lists processes in mode order with a unique label and keeps unknown CPU as null", () => {
    const rows = processRows(sampleReport(), 200_000);
    // A one-process mode is named by its mode; a split process by its stage (the client as "client").
    expect(rows.map((r) => r.key)).toEqual(["duckdb", "monolith", "split · ingest", "split · client"]);
    expect(rows.map((r) => r.name)).toEqual(["pipeline run --mode duckdb", "monolith", "ingest", "pipeline run (client)"]);
    expect(rows[0].cpuSeconds).toBeNull();
  });

  it("gives the split's stages with their IPC share in percent", () => {
    const rows = stageRows(sampleReport(), 200_000);
    expect(rows.map((r) => r.stage)).toEqual(["ingest", "parse", "rules"]);
    expect(rows[0].ipcPercent).toBeCloseTo(73.21, 2);
    expect(rows[1].ipcPercent).toBe(0);
    expect(rows[2].ipcPercent).toBeNull();
    expect(stageRows(sampleReport(), 200_000, "split-passthrough")).toHaveLength(1);
  });

  it("grades the headline ratios against DESIGN.md's floors and goals", () => {
    const h = Object.fromEntries(headlines(sampleReport(), 200_000).map((x) => [x.key, x]));
    expect(h.splitVsMonolith).toMatchObject({ text: "0.09×", grade: "below" });
    expect(h.splitVsMonolithP99).toMatchObject({ text: "6.37×", grade: "below" });
    expect(h.monolithVsDuckdbSql).toMatchObject({ text: "11.26×", grade: "goal" });
    expect(h.ipcCpuShare).toMatchObject({ text: "44.2 %", grade: "below" });

    const r = sampleReport();
    Object.assign(r.ratios[0], { splitVsMonolith: 0.6, splitVsMonolithP99: 1.5, monolithVsDuckdbSql: 1.2, ipcCpuShare: null });
    const g = Object.fromEntries(headlines(r, 200_000).map((x) => [x.key, x.grade]));
    expect(g).toEqual({ splitVsMonolith: "floor", splitVsMonolithP99: "goal", monolithVsDuckdbSql: "floor", ipcCpuShare: "none" });
    // A size without ratios: nothing measured, nothing invented.
    expect(headlines(r, 5).map((x) => x.text)).toEqual(["–", "–", "–", "–"]);
  });

  it("lines the scaling points up by partition count, a mode's missing point as null", () => {
    const s = scalingRows(sampleReport());
    expect(s.events).toBe(200_000);
    expect(s.rows.map((r) => [r.partitions, r.monolith, r.split, r.splitAggregate])).toEqual([
      [1, 1_936_246, 138_698, 1_842_599],
      [2, null, 124_533, 1_021_242],
      [4, 1_713_470, null, null],
    ]);
    expect(s.rows[2].monolithSpeedup).toBe(0.885);
    expect(scalingRows({ ...sampleReport(), scaling: [] })).toEqual({ events: null, rows: [] });
  });

  it("writes the machine, load and options lines from the report", () => {
    const r = sampleReport();
    expect(machineLine(r)).toBe(
      "2 cores · Intel(R) Xeon(R) Processor · 23.5 GB RAM (22.8 free) · Linux 6.18.44-fc-v669 · Node v20.20.2 · DuckDB v1.5.6 · " +
        "g++ (Debian 12.2.0-14+deb12u1) 12.2.0 · go version go1.26.8 linux/amd64 · commit 370b9f2",
    );
    expect(loadLine(r)).toBe("load average (1/5/15 min) 0.85 / 0.80 / 1.09 at start → 1.90 / 1.06 / 1.17 at end");
    expect(optionsLine(r)).toBe("uniform · seed 42 · batch default · partitions default · 1 warm-up + 2 counted runs per mode (median, min–max) · scaling 1, 2, 4");
    expect(reportSizes(r)).toEqual([200_000]);
  });

  it("formats for the projector", () => {
    expect(fmtRate(1_834_040.1)).toBe("1.83 M/s");
    expect(fmtRate(158_202.8)).toBe("158 k/s");
    expect(fmtRate(12_345)).toBe("12.3 k/s");
    expect(fmtRate(null)).toBe("–");
    expect(fmtEvents(20_000)).toBe("20k");
    expect(fmtEvents(1_500_000)).toBe("1.5M");
    expect(fmtEvents(12_345)).toBe("12,345");
    expect(fmtRatio(0.0862)).toBe("0.09×");
    expect(fmtPct(0.4417)).toBe("44.2 %");
  });
});

describe("bench diff", () => {
  it("compares per mode and size: change against the older run, p99 and checksum", () => {
    const a = sampleReport();
    const b = sampleReport();
    b.id = "20261129T090000Z-aaaaaa";
    b.startedAt = "2026-11-29T09:00:00.000Z";
    b.summaries.find((s) => s.mode === "split")!.eventsPerSecond.median = 2 * 158_202.83;
    b.summaries.find((s) => s.mode === "monolith")!.checksum = "other";
    b.summaries = b.summaries.filter((s) => s.mode !== "duckdb");

    const [older, newer] = olderFirst(b, a);
    expect(older.id).toBe(a.id);
    const rows = diffReports(older, newer);
    expect(rows.map((r) => r.mode)).toEqual(["duckdb", "duckdb-sql", "monolith", "split", "split-passthrough"]);
    const by = Object.fromEntries(rows.map((r) => [r.mode, r]));
    expect(by.split.changePct).toBeCloseTo(100, 9);
    expect(by.split.checksum).toBe("same");
    expect(by["duckdb-sql"].changePct).toBe(0);
    expect(by.monolith.checksum).toBe("different");
    expect(by.monolith.p99A).toBe(18.51);
    expect(by.duckdb).toMatchObject({ eventsA: 200_000, eventsB: null, epsA: 123_726.84, epsB: null, changePct: null, checksum: "missing" });
  });

  it("compares runs without a size in common on each one's largest input, never claiming equal results", () => {
    const a = sampleReport();
    const b = sampleReport();
    b.inputs = [{ events: 1_000_000, path: "/tmp/1m.ndjson", bytes: 125_000_000 }];
    b.summaries = b.summaries.map((s) => ({ ...s, events: 1_000_000, eventsPerSecond: { ...s.eventsPerSecond, median: s.eventsPerSecond.median / 2 } }));
    const rows = diffReports(a, b);
    expect(rows).toHaveLength(5);
    const mono = rows.find((r) => r.mode === "monolith")!;
    expect(mono).toMatchObject({ eventsA: 200_000, eventsB: 1_000_000, checksum: "other input" });
    expect(mono.changePct).toBeCloseTo(-50, 9);
  });
});
