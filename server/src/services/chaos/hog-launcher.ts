// Starts hog.mjs through the supervisor's spawner: its own process group, known to the
// guardian, so a hog dies with the control server even after `kill -9` of it (and exits by
// itself when orphaned). Its "threads N" / "held N" lines report progress.

import { fileURLToPath } from "node:url";
import path from "node:path";
import { processDefaults, type ProcessConfig } from "../../config.js";
import type { Spawner } from "../../supervisor/supervisor.js";
import type { HogHandle, HogHooks, HogLauncher } from "./fault-registry.js";

export const HOG_SCRIPT = fileURLToPath(new URL("./hog.mjs", import.meta.url));

export function spawnerHogLauncher(spawner: Spawner, onLine?: (name: string, line: string) => void): HogLauncher {
  return {
    start(target: string, kind: "cpu" | "memory", amount: number, hooks: HogHooks): HogHandle {
      const name = `chaos-hog-${target}`;
      const cfg: ProcessConfig = {
        ...processDefaults,
        name,
        command: process.execPath,
        args: [HOG_SCRIPT, kind === "cpu" ? "--cpu" : "--memory-mb", String(amount)],
        cwd: path.dirname(HOG_SCRIPT),
        language: "javascript",
        restart: "never",
      };
      let stopped = false;
      const child = spawner.spawn(cfg, {}, {
        onLine(stream, line) {
          const m = /^(?:threads|held) (\d+)$/.exec(line);
          if (stream === "stdout" && m) hooks.onProgress(Number(m[1]));
          else onLine?.(name, line);
        },
        onExit(code, signal, error) {
          if (stopped) return;
          hooks.onExit(error ? `spawn failed: ${error.message}` : signal ? `signal ${signal}` : `code ${code}`);
        },
      });
      return {
        pid: child.pid,
        stop() {
          stopped = true;
          child.signalGroup("SIGKILL");
        },
      };
    },
  };
}
