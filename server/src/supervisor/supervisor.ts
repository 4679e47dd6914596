// A minimal process supervisor: starts the processes named in the config file, restarts them
// by their policy with a capped exponential backoff, tells the topology at once when one exits,
// and stops whole process groups (SIGTERM, then SIGKILL after the stop timeout) on shutdown.
// It only ever runs commands from the config file.

import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import type { ProcessConfig } from "../config.js";

export type ProcessState = "STOPPED" | "STARTING" | "RUNNING" | "BACKOFF" | "STOPPING" | "EXITED" | "FATAL";

export interface ProcessStatus {
  name: string;
  state: ProcessState;
  pid: number;
  restarts: number;
  lastExit: string;
}

export interface SupervisorDeps {
  /** Called at once when a process exits, with e.g. "code 1" or "signal SIGKILL". */
  onExit(name: string, detail: string): void;
  /** Where a child's output lines go. */
  onLine(name: string, stream: "stdout" | "stderr", line: string): void;
  /** Extra environment for every child (control-server addresses). */
  env: Record<string, string>;
}

const FIRST_BACKOFF_MS = 200;
const MAX_BACKOFF_MS = 5000;
const STABLE_RUN_MS = 10_000;

interface Managed {
  cfg: ProcessConfig;
  child?: ChildProcess;
  state: ProcessState;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  lastExit: string;
  timer?: NodeJS.Timeout;
  exited?: Promise<void>;
}

export class Supervisor {
  private readonly procs = new Map<string, Managed>();
  private stopping = false;

  constructor(
    configs: ProcessConfig[],
    private readonly deps: SupervisorDeps,
  ) {
    for (const cfg of configs) {
      this.procs.set(cfg.name, { cfg, state: "STOPPED", restarts: 0, backoffMs: FIRST_BACKOFF_MS, startedAt: 0, lastExit: "" });
    }
  }

  startAll(): void {
    for (const p of this.procs.values()) if (p.cfg.autostart) this.spawn(p);
  }

  list(): ProcessStatus[] {
    return [...this.procs.values()].map((p) => ({
      name: p.cfg.name,
      state: p.state,
      pid: p.child?.pid ?? 0,
      restarts: p.restarts,
      lastExit: p.lastExit,
    }));
  }

  private spawn(p: Managed): void {
    if (this.stopping) return;
    p.state = "STARTING";
    let child: ChildProcess;
    try {
      child = spawn(p.cfg.command, p.cfg.args, {
        cwd: p.cfg.cwd,
        env: { ...process.env, ...this.deps.env, ...p.cfg.env, MR_PROCESS_NAME: p.cfg.name },
        stdio: ["ignore", "pipe", "pipe"],
        // Its own process group, so a stop reaches its children too.
        detached: true,
      });
    } catch (err) {
      this.onExit(p, `spawn failed: ${(err as Error).message}`);
      return;
    }
    p.child = child;
    p.startedAt = Date.now();
    for (const stream of ["stdout", "stderr"] as const) {
      const rl = createInterface({ input: child[stream]! });
      rl.on("line", (line) => this.deps.onLine(p.cfg.name, stream, line));
    }
    let resolveExit!: () => void;
    p.exited = new Promise((r) => (resolveExit = r));
    child.once("spawn", () => {
      if (p.state === "STARTING") p.state = "RUNNING";
    });
    child.once("error", (err) => {
      // spawn errors (e.g. ENOENT) arrive here and no 'exit' follows.
      if (child.pid === undefined) {
        this.onExit(p, `spawn failed: ${err.message}`);
        resolveExit();
      }
    });
    child.once("exit", (code, signal) => {
      this.onExit(p, signal ? `signal ${signal}` : `code ${code}`, code, signal);
      resolveExit();
    });
  }

  private onExit(p: Managed, detail: string, code?: number | null, signal?: NodeJS.Signals | null): void {
    p.child = undefined;
    p.lastExit = detail;
    this.deps.onExit(p.cfg.name, detail);
    if (this.stopping || p.state === "STOPPING") {
      p.state = "STOPPED";
      return;
    }
    const failed = signal != null || code !== 0;
    const restart = p.cfg.restart === "always" || (p.cfg.restart === "on-failure" && failed);
    if (!restart) {
      p.state = "EXITED";
      return;
    }
    if (Date.now() - p.startedAt > STABLE_RUN_MS) p.backoffMs = FIRST_BACKOFF_MS;
    const delay = p.backoffMs;
    p.backoffMs = Math.min(MAX_BACKOFF_MS, p.backoffMs * 2);
    p.state = "BACKOFF";
    p.timer = setTimeout(() => {
      p.timer = undefined;
      p.restarts++;
      this.spawn(p);
    }, delay);
  }

  /** Stops every process group: SIGTERM, then SIGKILL after each process's stop timeout. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.procs.values()].map((p) => this.stop(p)));
  }

  private async stop(p: Managed): Promise<void> {
    if (p.timer) clearTimeout(p.timer);
    const child = p.child;
    if (!child || child.pid === undefined) {
      p.state = "STOPPED";
      return;
    }
    p.state = "STOPPING";
    const pgid = child.pid;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pgid, sig);
      } catch {
        // The group is already gone.
      }
    };
    signalGroup("SIGTERM");
    const killTimer = setTimeout(() => signalGroup("SIGKILL"), p.cfg.stopTimeoutMs);
    await p.exited;
    clearTimeout(killTimer);
    // Anything left in the group (a grandchild that ignored SIGTERM) goes now.
    signalGroup("SIGKILL");
  }
}
