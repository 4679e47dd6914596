// Load-generator benchmark: the highest constant rate the generator sustains against a trivial
// target on this machine, next to `wrk` (closed loop, as fast as it can) against the same target.
// Target: CalculatorService over Connect JSON on HTTP/1.1 (what wrk can POST to), in a child
// process. "Sustained" = every second within 2 % of the rate, no saturation, nothing unsent.
// Writes reports/load-bench.{md,json}.
//
//   node --import tsx server/bench/load-bench.ts [--seconds 5] [--wrk-seconds 10] [--connections 32]

import { execFileSync, spawn, spawnSync } from "node:child_process";
import http from "node:http";
import { once } from "node:events";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import path from "node:path";
import type { AddressInfo } from "node:net";
import { Code, ConnectError } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { CalculatorService } from "@modular-runtime/proto/calculator/v1/calculator";
import { LoadTestState, type LoadMetrics, type LoadSummary } from "@modular-runtime/proto/runtime/v1/load";
import { systemClock } from "../src/clock.js";
import { LoadTest } from "../src/services/load/load-test.js";
import { systemScheduler } from "../src/services/topology/topology-watcher.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) if (process.argv[i].startsWith("--")) args.set(process.argv[i].slice(2), process.argv[i + 1] ?? "");

if (args.has("serve")) {
  // The trivial target: answers Calculate over Connect (JSON or binary) on HTTP/1.1.
  const server = http.createServer(
    connectNodeAdapter({ routes: (r) => r.service(CalculatorService, { calculate: (req) => ({ result: req.a + req.b }) }) }),
  );
  server.keepAliveTimeout = 60_000;
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  console.log(`PORT ${(server.address() as AddressInfo).port}`);
  process.on("SIGTERM", () => process.exit(0));
} else {
  await main();
}

function ensureWrk(): string {
  const found = spawnSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).stdout.trim();
  if (found) return found;
  console.log("installing wrk (Debian package)…");
  const sudo = process.getuid?.() === 0 ? [] : ["sudo"];
  execFileSync(sudo[0] ?? "apt-get", [...sudo.slice(1), ...(sudo.length ? ["apt-get"] : []), "install", "-y", "-q", "wrk"], { stdio: "inherit" });
  return spawnSync("sh", ["-c", "command -v wrk"], { encoding: "utf8" }).stdout.trim();
}

async function main() {
  const SECONDS = Number(args.get("seconds") ?? 5);
  const WRK_SECONDS = Number(args.get("wrk-seconds") ?? 10);
  const CONNECTIONS = Number(args.get("connections") ?? 32);
  const root = path.resolve(import.meta.dirname, "../..");
  const wrk = ensureWrk();

  const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--serve", "1"], { stdio: ["ignore", "pipe", "inherit"] });
  const port = await new Promise<number>((resolve) => child.stdout!.on("data", (d: Buffer) => { const m = /PORT (\d+)/.exec(String(d)); if (m) resolve(Number(m[1])); }));
  const url = `http://127.0.0.1:${port}/calculator.v1.CalculatorService/Calculate`;
  const body = JSON.stringify({ operation: "OPERATION_ADD", a: 1, b: 2 });
  try {
    // 1. wrk: as many requests as it can push.
    const lua = path.join(tmpdir(), "load-bench.lua");
    writeFileSync(lua, `wrk.method = "POST"\nwrk.body = '${body}'\nwrk.headers["Content-Type"] = "application/json"\n`);
    const out = execFileSync(wrk, ["-t1", `-c${CONNECTIONS}`, `-d${WRK_SECONDS}s`, "-s", lua, url], { encoding: "utf8" });
    const wrkRps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN);
    const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0);
    console.log(`wrk: ${wrkRps.toFixed(0)} req/s (${CONNECTIONS} connections, ${WRK_SECONDS} s, non-2xx ${non2xx})`);

    // 2. The generator, stepping up the rate until it can no longer hold it.
    // The same request as wrk's over the same protocol (Connect unary JSON, HTTP/1.1 keep-alive,
    // as many connections as wrk), sent lean: a full Connect client costs ~0.7 ms of CPU per
    // call here, which would measure the client library instead of the generator.
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const payload = Buffer.from(body);
    const post = (signal: AbortSignal, timeoutMs: number) =>
      new Promise<void>((resolve, reject) => {
        const req = http.request(
          { host: "127.0.0.1", port, path: "/calculator.v1.CalculatorService/Calculate", method: "POST", agent, signal, timeout: timeoutMs,
            headers: { "content-type": "application/json", "content-length": payload.length } },
          (res) => {
            res.resume();
            res.on("end", () => (res.statusCode === 200 ? resolve() : reject(new ConnectError(`HTTP ${res.statusCode}`, Code.Unknown))));
          },
        );
        req.on("timeout", () => req.destroy(new ConnectError("timeout", Code.DeadlineExceeded)));
        req.on("error", reject);
        req.end(payload);
      });
    const steps: { rate: number; sustained: boolean; achieved: number; minSecond: number; late: number; unsent: number; failed: number; p99: number; uncorrectedP99: number; reason: string }[] = [];
    for (const rate of [500, 1000, 2000, 3000, 4000, 5000, 6000, 8000, 10_000, 12_000, 16_000, 20_000]) {
      const seconds: LoadMetrics[] = [];
      const summary = await new Promise<LoadSummary>((resolve) => {
        new LoadTest(
          { id: `bench-${rate}`, ratePerSecond: rate, durationMs: SECONDS * 1000, maxInFlight: CONNECTIONS, timeoutMs: 5000 },
          {
            clock: systemClock,
            scheduler: systemScheduler,
            target: { method: "Calculate", call: post, close() {} },
            onMetrics: (m) => m.state === LoadTestState.RUNNING && seconds.push(m),
            onEnd: resolve,
          },
        );
      });
      // The first second includes warm-up of connections; judge the rest.
      const judged = seconds.slice(1);
      const minSecond = Math.min(...judged.map((m) => m.currentRps));
      const reason = judged.find((m) => m.saturated)?.saturationReason ?? "";
      const sustained =
        judged.length > 0 && judged.every((m) => Math.abs(m.currentRps - rate) / rate <= 0.02) && summary.requestsUnsent === 0n && summary.totalFailed === 0n;
      steps.push({ rate, sustained, achieved: summary.achievedRps, minSecond, late: Number(summary.lateSends), unsent: Number(summary.requestsUnsent), failed: Number(summary.totalFailed), p99: summary.latencyP99Ms, uncorrectedP99: summary.uncorrectedP99Ms, reason });
      console.log(`generator ${rate}/s: ${sustained ? "sustained" : "NOT sustained"} · achieved ${summary.achievedRps.toFixed(0)}/s · late ${summary.lateSends} · unsent ${summary.requestsUnsent} · p99 ${summary.latencyP99Ms.toFixed(1)} ms (uncorrected ${summary.uncorrectedP99Ms.toFixed(1)}) ${reason} · per second ${judged.map((m) => m.currentRps.toFixed(0)).join(" ")}`);
      if (!sustained) break;
    }
    agent.destroy();
    const maxSustained = Math.max(0, ...steps.filter((s) => s.sustained).map((s) => s.rate));
    const ratio = maxSustained / wrkRps;
    console.log(`\ngenerator max sustained: ${maxSustained} req/s · wrk: ${wrkRps.toFixed(0)} req/s · ratio ${ratio.toFixed(2)}`);

    const env = { date: new Date().toISOString(), cores: cpus().length, cpu: cpus()[0]?.model ?? "", node: process.version, loadavg: loadavg() };
    const report = { ...env, target: "CalculatorService/Calculate, Connect JSON over HTTP/1.1, separate process", secondsPerStep: SECONDS, wrk: { rps: wrkRps, connections: CONNECTIONS, seconds: WRK_SECONDS, non2xx }, generator: { maxSustainedRps: maxSustained, steps }, ratio };
    const outDir = path.join(root, "reports");
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, "load-bench.json"), JSON.stringify(report, null, 2) + "\n");
    const md = [
      "# Load generator benchmark",
      "",
      `${env.date} · ${env.cores} cores (${env.cpu}) · Node ${env.node} · load average ${env.loadavg.map((x) => x.toFixed(2)).join(" ")}`,
      "",
      `Target: ${report.target}. Generator: open model, in-flight limit ${CONNECTIONS} (the same as wrk's connections), ${SECONDS} s per step; a rate is sustained when every second after the first is within 2 % of it and nothing is unsent or failed (late sends, > 10 ms behind schedule, are counted in the table and charged to the corrected latency).`,
      "",
      "| rate/s | sustained | achieved/s | slowest second/s | late | unsent | p99 ms (corr.) | p99 ms (uncorr.) |",
      "|---:|:--:|---:|---:|---:|---:|---:|---:|",
      ...steps.map((s) => `| ${s.rate} | ${s.sustained ? "yes" : "no"} | ${s.achieved.toFixed(0)} | ${s.minSecond.toFixed(0)} | ${s.late} | ${s.unsent} | ${s.p99.toFixed(1)} | ${s.uncorrectedP99.toFixed(1)} |`),
      "",
      `**Generator max sustained: ${maxSustained} req/s. wrk (-t1 -c${CONNECTIONS}, closed loop, ${WRK_SECONDS} s): ${wrkRps.toFixed(0)} req/s. Ratio: ${ratio.toFixed(2)}.**`,
      "",
      "Note: wrk measures the target's closed-loop maximum; the generator holds a fixed schedule and measures from scheduled send times. Generator, wrk and target share this machine's cores.",
      "",
    ].join("\n");
    writeFileSync(path.join(outDir, "load-bench.md"), md);
  } finally {
    child.kill("SIGTERM");
  }
}
