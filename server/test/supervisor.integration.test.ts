// The supervisor with real processes: process groups die on stop even when they ignore SIGTERM,
// children die with the control server even after `kill -9` of it, a killed child comes back.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { systemClock } from "../src/clock.js";
import { processDefaults, type ProcessConfig } from "../src/config.js";
import { systemScheduler } from "../src/services/topology/topology-watcher.js";
import { ProcessSpawner } from "../src/supervisor/process-spawner.js";
import { Supervisor } from "../src/supervisor/supervisor.js";
import { alive } from "./harness.js";

const root = path.resolve(import.meta.dirname, "../..");

function groupMembers(pgid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(f[2]) === pgid && f[0] !== "Z") out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

async function until<T>(fn: () => T | undefined | false, what: string, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function proc(over: Partial<ProcessConfig>): ProcessConfig {
  return {
    name: "p",
    command: "sh",
    cwd: root,
    ...processDefaults,
    language: "shell",
    ...over,
  };
}

// A child that ignores SIGTERM and forks a grandchild that ignores it too (ignored signals are
// inherited across fork and exec).
const STUBBORN = ["-c", "trap '' TERM; sleep 1000 & echo grandchild $!; sleep 1000"];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe("supervisor with real processes", () => {
  it("stop leaves no process of the group, even when child and grandchild ignore SIGTERM", async () => {
    const spawner = new ProcessSpawner();
    const lines: string[] = [];
    const sup = new Supervisor([proc({ name: "stubborn", args: STUBBORN, stopTimeoutMs: 300 })], {
      spawner,
      clock: systemClock,
      scheduler: systemScheduler,
      random: Math.random,
      env: {},
      onLine: (_n, _s, l) => lines.push(l),
    });
    cleanups.push(() => spawner.close());
    sup.startAll();
    const pgid = sup.get("stubborn").pid;
    const grandchild = Number((await until(() => lines.find((l) => l.startsWith("grandchild")), "the grandchild")).split(" ")[1]);
    expect(groupMembers(pgid).length).toBeGreaterThanOrEqual(2);
    expect(alive(grandchild)).toBe(true);
    await sup.stop("stubborn");
    await until(() => groupMembers(pgid).length === 0, "an empty process group", 3000);
    expect(alive(grandchild)).toBe(false);
    expect(sup.get("stubborn").state).toBe("STOPPED");
  }, 20_000);

  it("a killed child is RUNNING again with a new pid and one more restart", async () => {
    const spawner = new ProcessSpawner();
    const sup = new Supervisor([proc({ name: "sleeper", args: ["-c", "sleep 1000"], minRunMs: 100 })], {
      spawner,
      clock: systemClock,
      scheduler: systemScheduler,
      random: Math.random,
      env: {},
    });
    cleanups.push(async () => {
      await sup.stopAll();
      spawner.close();
    });
    sup.startAll();
    await until(() => sup.get("sleeper").state === "RUNNING", "RUNNING");
    const first = sup.get("sleeper").pid;
    const killedAt = performance.now();
    process.kill(first, "SIGKILL");
    await until(() => sup.get("sleeper").pid !== first && sup.get("sleeper").pid > 0, "a new pid");
    const back = performance.now() - killedAt;
    expect(sup.get("sleeper").restarts).toBe(1);
    expect(sup.get("sleeper").lastExit).toBe("signal SIGKILL");
    console.log(`kill -9 -> new pid after ${back.toFixed(0)} ms`);
  }, 20_000);

  it("kill -9 of the control server leaves no child or grandchild alive", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "mr-orphans-"));
    const config = path.join(dir, "runtime.yaml");
    writeFileSync(
      config,
      [
        "server: { webDir: /nonexistent }",
        `logs: { dir: ${dir}/logs }`,
        "processes:",
        `  - { name: a, command: sh, args: ["-c", "sleep 1000 & echo $! > ${dir}/grandchild.pid; sleep 1000"] }`,
        `  - { name: b, command: sh, args: ["-c", "trap '' TERM; sleep 1000"] }`,
        "",
      ].join("\n"),
    );
    const server: ChildProcess = spawn(process.execPath, ["--import", "tsx", "server/src/main.ts", "--config", config, "--http-port", "0", "--h2c-port", "0"], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    server.stdout!.on("data", (d) => (out += d));
    server.stderr!.on("data", (d) => (out += d));
    cleanups.push(() => {
      if (server.exitCode === null) server.kill("SIGKILL");
    });
    const url = (await until(() => /Connect\/gRPC-Web\s+(http:\/\/\S+)/.exec(out)?.[1], "the server to listen", 20_000)).replace("localhost", "127.0.0.1");
    const list = async () => {
      const res = await fetch(`${url}/runtime.v1.SupervisorService/ListProcesses`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      return ((await res.json()) as { processes: { name: string; pid?: number }[] }).processes;
    };
    let pids: number[] = [];
    const end = Date.now() + 10_000;
    while (Date.now() < end) {
      pids = (await list()).map((p) => p.pid ?? 0).filter((p) => p > 0);
      if (pids.length === 2 && existsSync(path.join(dir, "grandchild.pid"))) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const grandchild = Number(readFileSync(path.join(dir, "grandchild.pid"), "utf8").trim());
    const all = [...pids, grandchild];
    expect(grandchild).toBeGreaterThan(0);
    expect(all.every(alive)).toBe(true);
    server.kill("SIGKILL");
    await until(() => all.every((p) => !alive(p)), `children ${all.join(", ")} to die`, 5000);
    expect(existsSync(config)).toBe(true);
  }, 60_000);
});
