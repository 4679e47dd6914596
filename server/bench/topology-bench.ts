// Topology benchmark: N simulated services heartbeating every second over gRPC (h2c) plus W
// WatchTopology watchers over Connect (HTTP/1.1), against a real control server process.
// Prints and writes (reports/topology-bench.{md,json}):
//   - urgent update latency: a service registers -> every watcher sees it (p50/p95/p99/max)
//   - heartbeat update latency: a beat is sent -> every watcher sees its sequence (coalesced ~1/s)
//   - control-server CPU (% of one core) and RSS over the measured window
//
//   pnpm bench:topology [--services 200] [--watchers 20] [--seconds 30]

import { spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import path from "node:path";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { HeartbeatRequestSchema, ServiceLanguage, TopologyService } from "@modular-runtime/proto/runtime/v1/topology";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i].replace(/^--/, ""), process.argv[i + 1]);
const SERVICES = Number(args.get("services") ?? 200);
const WATCHERS = Number(args.get("watchers") ?? 20);
const SECONDS = Number(args.get("seconds") ?? 30);
const HTTP_PORT = Number(args.get("http-port") ?? 3410);
const H2C_PORT = Number(args.get("h2c-port") ?? 3411);
const root = path.resolve(import.meta.dirname, "../..");
const outDir = path.resolve(root, args.get("out-dir") ?? "reports");

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const idx = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[idx];
}

function cpuTicks(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks
}

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) * 1024 : 0;
}

async function main() {
  const configPath = path.join(outDir, "topology-bench.runtime.yaml");
  mkdirSync(outDir, { recursive: true });
  writeFileSync(configPath, `server: { webDir: ${path.join(root, "web/dist")} }\ntopology: { heartbeatIntervalMs: 1000 }\nprocesses: []\n`);
  const server = spawn(process.execPath, ["--import", "tsx", path.join(root, "server/src/main.ts"), "--config", configPath, "--http-port", String(HTTP_PORT), "--h2c-port", String(H2C_PORT)], {
    cwd: root,
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    server.stdout!.on("data", (d: Buffer) => d.toString().includes("gRPC/Connect h2c") && resolve());
    server.once("exit", (c) => reject(new Error(`control server exited with ${c}`)));
  });
  console.log(`control server pid ${server.pid}; ${SERVICES} services, ${WATCHERS} watchers, ${SECONDS} s`);

  const grpc = () => createClient(TopologyService, createGrpcTransport({ baseUrl: `http://127.0.0.1:${H2C_PORT}` }));
  const connect = () => createClient(TopologyService, createConnectTransport({ baseUrl: `http://127.0.0.1:${HTTP_PORT}`, httpVersion: "1.1" }));

  // Watchers record when they see a name appear and when they see a node's sequence.
  const seenName: Map<string, number>[] = [];
  const seenSeq: Map<string, Map<bigint, number>>[] = [];
  const stop = new AbortController();
  let updates = 0;
  for (let w = 0; w < WATCHERS; w++) {
    const names = new Map<string, number>();
    const seqs = new Map<string, Map<bigint, number>>();
    seenName.push(names);
    seenSeq.push(seqs);
    const client = connect();
    void (async () => {
      try {
        for await (const u of client.watchTopology({}, { signal: stop.signal })) {
          const t = performance.now();
          updates++;
          for (const n of u.nodes) {
            if (!names.has(n.name)) names.set(n.name, t);
            let m = seqs.get(n.instanceId);
            if (!m) seqs.set(n.instanceId, (m = new Map()));
            if (!m.has(n.lastSequence)) m.set(n.lastSequence, t);
          }
        }
      } catch {
        // stopped
      }
    })();
  }

  // Services: register, then beat every second on a bidi stream with a random phase.
  const beatsSent = new Map<string, Map<bigint, number>>();
  const ids: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const client = grpc();
    const handle = await client.registerService({ name: `sim-${String(i).padStart(3, "0")}`, language: ServiceLanguage.GO, address: `127.0.0.1:${20000 + i}` });
    ids.push(handle.instanceId);
    const sent = new Map<bigint, number>();
    beatsSent.set(handle.instanceId, sent);
    let seq = 0n;
    const phase = Math.random() * 1000;
    async function* beats() {
      await sleep(phase);
      while (!stop.signal.aborted) {
        seq++;
        sent.set(seq, performance.now());
        yield create(HeartbeatRequestSchema, { instanceId: handle.instanceId, sequence: seq, metrics: { cpuPercent: Math.random() * 10, rssBytes: 50_000_000n } });
        await sleep(1000);
      }
    }
    void (async () => {
      try {
        for await (const _ of client.heartbeat(beats(), { signal: stop.signal })) {
          // acks
        }
      } catch {
        // stopped
      }
    })();
  }
  console.log("all services registered; warming up 3 s");
  await sleep(3000);

  const t0Ticks = cpuTicks(server.pid!);
  const t0 = performance.now();
  const measureFrom = performance.now();
  // Probes: every 250 ms a new service registers (an urgent change every watcher must see).
  const probes: { name: string; at: number }[] = [];
  const probeClient = grpc();
  const probeLoop = (async () => {
    let i = 0;
    while (performance.now() - t0 < SECONDS * 1000) {
      const name = `probe-${i++}`;
      const at = performance.now();
      probes.push({ name, at });
      const h = await probeClient.registerService({ name, language: ServiceLanguage.RUST });
      setTimeout(() => void probeClient.unregisterService({ instanceId: h.instanceId }).catch(() => undefined), 1000);
      await sleep(250);
    }
  })();
  let peakRss = 0;
  while (performance.now() - t0 < SECONDS * 1000) {
    peakRss = Math.max(peakRss, rssBytes(server.pid!));
    await sleep(500);
  }
  await probeLoop;
  const elapsed = (performance.now() - t0) / 1000;
  const cpuPercent = ((cpuTicks(server.pid!) - t0Ticks) / 100 / elapsed) * 100; // USER_HZ = 100
  await sleep(1500); // let the last updates arrive

  const urgent: number[] = [];
  let missingUrgent = 0;
  for (const p of probes) {
    for (const names of seenName) {
      const t = names.get(p.name);
      if (t === undefined) missingUrgent++;
      else urgent.push(t - p.at);
    }
  }
  const beat: number[] = [];
  for (const [id, sent] of beatsSent) {
    for (const [seq, at] of sent) {
      if (at < measureFrom || at > t0 + SECONDS * 1000 - 1500) continue;
      for (const seqs of seenSeq) {
        const t = seqs.get(id)?.get(seq);
        // A coalesced update may skip a sequence when the next beat arrived first; such beats
        // are not counted (their newer successor is).
        if (t !== undefined) beat.push(t - at);
      }
    }
  }
  urgent.sort((a, b) => a - b);
  beat.sort((a, b) => a - b);
  stop.abort();
  server.stdout!.resume();
  server.kill("SIGTERM");
  await new Promise((r) => server.once("exit", r));

  const round = (x: number) => Math.round(x * 10) / 10;
  const report = {
    benchmark: "topology",
    date: new Date().toISOString(),
    machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? "", memoryBytes: totalmem(), node: process.version },
    config: { services: SERVICES, watchers: WATCHERS, seconds: SECONDS, heartbeatIntervalMs: 1000, coalesceMs: 1000 },
    urgentUpdateLatencyMs: { samples: urgent.length, missing: missingUrgent, p50: round(percentile(urgent, 50)), p95: round(percentile(urgent, 95)), p99: round(percentile(urgent, 99)), max: round(urgent.at(-1) ?? Number.NaN) },
    heartbeatUpdateLatencyMs: { samples: beat.length, p50: round(percentile(beat, 50)), p95: round(percentile(beat, 95)), p99: round(percentile(beat, 99)), max: round(beat.at(-1) ?? Number.NaN) },
    controlServer: { cpuPercentOfOneCore: round(cpuPercent), peakRssBytes: peakRss },
    watcherMessages: updates,
    note:
      "load generator, watchers and control server share this machine's cores; the probes' urgent updates (4/s) also flush pending heartbeat changes early, so heartbeat latency here is below the 1 s coalescing bound",
  };
  const md = [
    `# Topology benchmark`,
    ``,
    `${report.date} · ${report.machine.cores} cores (${report.machine.cpu}) · Node ${report.machine.node}`,
    ``,
    `${SERVICES} services heartbeating every 1 s (gRPC bidi streams over h2c) and ${WATCHERS} WatchTopology watchers (Connect over HTTP/1.1), measured for ${SECONDS} s.`,
    ``,
    `| what | samples | p50 ms | p95 ms | p99 ms | max ms |`,
    `|---|---:|---:|---:|---:|---:|`,
    `| urgent update (new service → every watcher) | ${urgent.length} | ${report.urgentUpdateLatencyMs.p50} | ${report.urgentUpdateLatencyMs.p95} | ${report.urgentUpdateLatencyMs.p99} | ${report.urgentUpdateLatencyMs.max} |`,
    `| heartbeat (beat sent → every watcher, coalesced ≤ 1/s) | ${beat.length} | ${report.heartbeatUpdateLatencyMs.p50} | ${report.heartbeatUpdateLatencyMs.p95} | ${report.heartbeatUpdateLatencyMs.p99} | ${report.heartbeatUpdateLatencyMs.max} |`,
    ``,
    `Control server: ${report.controlServer.cpuPercentOfOneCore} % of one core, peak RSS ${(peakRss / 2 ** 20).toFixed(0)} MiB. Urgent updates missed by a watcher: ${missingUrgent}.`,
    ``,
    `Note: ${report.note}.`,
    ``,
  ].join("\n");
  writeFileSync(path.join(outDir, "topology-bench.json"), JSON.stringify(report, null, 2) + "\n");
  writeFileSync(path.join(outDir, "topology-bench.md"), md);
  console.log("\n" + md);
  console.log(`written: ${path.relative(root, path.join(outDir, "topology-bench.md"))}, topology-bench.json`);
  process.exit(0);
}

main().catch((err) => {
  console.error("topology bench failed:", err);
  process.exit(1);
});
