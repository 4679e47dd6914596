// Spawns real children, each the leader of its own process group, and keeps a guardian process
// informed of those groups so they die with the control server even after `kill -9` of it.

import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createInterface } from "node:readline";
import type { ProcessConfig } from "../config.js";
import type { ChildHandle, ChildHooks, Spawner } from "./supervisor.js";

const GUARDIAN = fileURLToPath(new URL("./guardian.sh", import.meta.url));

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

export class ProcessSpawner implements Spawner {
  private guardian?: ChildProcess;

  constructor(private readonly baseEnv: NodeJS.ProcessEnv = process.env) {
    this.guardian = spawn("bash", [GUARDIAN], { stdio: ["pipe", "ignore", "inherit"], detached: true });
    this.guardian.on("error", () => (this.guardian = undefined));
    this.guardian.stdin?.on("error", () => undefined);
    this.guardian.unref();
  }

  private tellGuardian(line: string): void {
    this.guardian?.stdin?.write(line + "\n");
  }

  spawn(cfg: ProcessConfig, env: Record<string, string>, hooks: ChildHooks): ChildHandle {
    let child: ChildProcess;
    let done = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
      if (done) return;
      done = true;
      hooks.onExit(code, signal, error);
    };
    try {
      child = spawn(cfg.command, cfg.args, {
        cwd: cfg.cwd,
        env: { ...this.baseEnv, ...env },
        stdio: ["ignore", "pipe", "pipe"],
        detached: true, // its own process group
      });
    } catch (err) {
      queueMicrotask(() => finish(null, null, err as Error));
      return { pid: 0, signalGroup: () => undefined };
    }
    const pid = child.pid ?? 0;
    if (pid > 0) this.tellGuardian(`+${pid}`);
    let open = 2;
    let exit: [number | null, NodeJS.Signals | null] | undefined;
    // Report the exit once the output is drained, so the last lines come before the marker.
    const maybeFinish = () => {
      if (exit && open === 0) finish(exit[0], exit[1]);
    };
    for (const stream of ["stdout", "stderr"] as const) {
      const rl = createInterface({ input: child[stream]!, crlfDelay: Infinity });
      rl.on("line", (line) => hooks.onLine(stream, line));
      rl.on("close", () => {
        open--;
        maybeFinish();
      });
    }
    child.once("error", (err) => {
      if (child.pid === undefined) finish(null, null, err);
    });
    child.once("exit", (code, signal) => {
      exit = [code, signal];
      // A grandchild holding the pipes open must not delay the exit for long.
      setTimeout(() => finish(code, signal), 200).unref();
      maybeFinish();
    });
    const guardian = this;
    return {
      pid,
      signalGroup(signal) {
        if (pid <= 0) return;
        signalGroup(pid, signal);
        if (signal === "SIGKILL" && exit) guardian.tellGuardian(`-${pid}`);
      },
    };
  }

  /** Closes the guardian's input: it kills whatever groups are left, then exits. */
  close(): void {
    this.guardian?.stdin?.end();
    this.guardian = undefined;
  }
}
