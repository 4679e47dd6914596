// Fault-proxy pass-through cost: pushes N MB through one bidi gRPC stream (ParseService.Process,
// M MiB messages, each acked) straight to a backend and through the fault proxy with no fault
// active, and reports MB/s for both and the proxy's CPU seconds per 100 MB. Backend and client
// are separate processes; the proxy runs in this one, so its CPU is this process's.
//
//   node --import tsx server/bench/fault-proxy-bench.ts [--mb 200] [--message-mb 4] [--runs 3]
//
// Prints a small table; not a test, nothing is asserted.

import { spawn } from "node:child_process";
import { create } from "@bufbuild/protobuf";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { ParseService, StageRequestSchema, type StageRequest } from "@modular-runtime/proto/pipeline/v1/pipeline";
import { FaultProxy } from "../src/services/chaos/fault-proxy.js";
import { MAX_MESSAGE, startBackend } from "../test/grpc-backend.js";

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) if (process.argv[i].startsWith("--")) args.set(process.argv[i].slice(2), process.argv[i + 1] ?? "");
const MB = Number(args.get("mb") ?? 200);
const MESSAGE_MB = Number(args.get("message-mb") ?? 4);
const RUNS = Number(args.get("runs") ?? 3);

if (args.has("serve")) {
  const backend = await startBackend();
  console.log(`ADDRESS ${backend.address}`);
  process.on("SIGTERM", () => process.exit(0));
} else if (args.has("client")) {
  // One bidi stream: send every message, read every ack; prints the wall seconds.
  const transport = createGrpcTransport({ baseUrl: `http://${args.get("client")}`, readMaxBytes: MAX_MESSAGE, writeMaxBytes: MAX_MESSAGE });
  const data = Buffer.alloc(MESSAGE_MB * 1024 * 1024, 0x5a);
  const count = Math.ceil(MB / MESSAGE_MB);
  async function* requests(): AsyncIterable<StageRequest> {
    for (let i = 1; i <= count; i++) {
      yield create(StageRequestSchema, { kind: { case: "batch", value: { meta: { traceId: BigInt(i) }, payload: { case: "raw", value: { data } } } } });
    }
    yield create(StageRequestSchema, { kind: { case: "end", value: {} } });
  }
  const t0 = performance.now();
  let acks = 0;
  for await (const res of createClient(ParseService, transport).process(requests())) if (res.kind.case === "ack") acks++;
  if (acks !== count) throw new Error(`expected ${count} acks, got ${acks}`);
  console.log(`SECONDS ${(performance.now() - t0) / 1000}`);
} else {
  await main();
}

function run(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--client", address, "--mb", String(MB), "--message-mb", String(MESSAGE_MB)], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout!.on("data", (d: Buffer) => (out += d));
    child.on("exit", (code) => {
      const m = /SECONDS ([\d.]+)/.exec(out);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`client exited with ${code}: ${out}`));
    });
  });
}

async function main() {
  const server = spawn(process.execPath, ["--import", "tsx", import.meta.filename, "--serve", "1"], { stdio: ["ignore", "pipe", "inherit"] });
  const address = await new Promise<string>((resolve) =>
    server.stdout!.on("data", (d: Buffer) => {
      const m = /ADDRESS (\S+)/.exec(String(d));
      if (m) resolve(m[1]);
    }),
  );
  const proxy = await FaultProxy.start({ target: address, label: "bench", faults: () => [] });
  const rows: string[] = [];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const direct: number[] = [];
  const proxied: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    direct.push(MB / (await run(address)));
    const before = process.cpuUsage();
    proxied.push(MB / (await run(proxy.address)));
    const used = process.cpuUsage(before);
    cpu.push(((used.user + used.system) / 1e6) * (100 / MB));
  }
  rows.push(`| path | MB/s (median of ${RUNS}) | runs |`, "|---|---|---|");
  rows.push(`| direct | ${median(direct).toFixed(0)} | ${direct.map((x) => x.toFixed(0)).join(", ")} |`);
  rows.push(`| through the fault proxy | ${median(proxied).toFixed(0)} | ${proxied.map((x) => x.toFixed(0)).join(", ")} |`);
  console.log(`fault proxy pass-through: ${MB} MB per run in ${MESSAGE_MB} MiB messages over one bidi gRPC stream\n`);
  console.log(rows.join("\n"));
  console.log(`\nproxy CPU: ${median(cpu).toFixed(3)} s per 100 MB (runs: ${cpu.map((x) => x.toFixed(3)).join(", ")})`);
  await proxy.close();
  server.kill("SIGTERM");
}
