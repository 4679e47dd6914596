// The SupervisorService: the dashboard's view of and control over the config file's processes.

import { create } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import {
  ListProcessesResponseSchema,
  ProcessInfoSchema,
  ProcessState,
  RestartProcessResponseSchema,
  StartProcessResponseSchema,
  StopProcessResponseSchema,
  WatchProcessesResponseSchema,
  type ProcessInfo,
  type SupervisorService,
  type WatchProcessesResponse,
} from "@modular-runtime/proto/runtime/v1/supervisor";
import type { ProcessStatus, Supervisor } from "../../supervisor/supervisor.js";
import type { Scheduler } from "../topology/topology-watcher.js";

export interface SupervisorServiceDeps {
  supervisor: Supervisor;
  /** Subscribe to "something changed"; returns an unsubscribe function. */
  subscribe(listener: () => void): () => void;
  scheduler: Scheduler;
  shutdown: AbortSignal;
  /** Periodic refresh for CPU, RSS and uptime. */
  refreshMs?: number;
}

const STATE: Record<ProcessStatus["state"], ProcessState> = {
  STOPPED: ProcessState.STOPPED,
  STARTING: ProcessState.STARTING,
  RUNNING: ProcessState.RUNNING,
  BACKOFF: ProcessState.BACKOFF,
  STOPPING: ProcessState.STOPPING,
  EXITED: ProcessState.EXITED,
  FATAL: ProcessState.FATAL,
};

export function toProcessInfo(s: ProcessStatus): ProcessInfo {
  return create(ProcessInfoSchema, {
    name: s.name,
    language: s.language,
    state: STATE[s.state],
    pid: s.pid,
    restartCount: s.restarts,
    startedAtMs: BigInt(Math.round(s.startedAtWallMs)),
    uptimeMs: BigInt(Math.round(s.uptimeMs)),
    lastExitCode: s.lastExitCode,
    lastExitSignal: s.lastExitSignal,
    lastExit: s.lastExit,
    cpuPercent: s.cpuPercent,
    rssBytes: BigInt(Math.round(s.rssBytes)),
    restartPolicy: s.restartPolicy,
    autostart: s.autostart,
    fatalReason: s.fatalReason,
    nextStartAtMs: BigInt(Math.round(s.nextStartAtWallMs)),
  });
}

export function createSupervisorService(deps: SupervisorServiceDeps): ServiceImpl<typeof SupervisorService> {
  const { supervisor } = deps;
  const list = () => supervisor.list().map(toProcessInfo);
  return {
    listProcesses() {
      return create(ListProcessesResponseSchema, { processes: list() });
    },

    async *watchProcesses(_req, ctx) {
      let dirty = true;
      let wake: (() => void) | undefined;
      const poke = () => {
        dirty = true;
        wake?.();
      };
      const unsubscribe = deps.subscribe(() => deps.scheduler.setTimeout(poke, 0));
      let timer: unknown;
      const tick = () => {
        poke();
        timer = deps.scheduler.setTimeout(tick, deps.refreshMs ?? 1000);
      };
      timer = deps.scheduler.setTimeout(tick, deps.refreshMs ?? 1000);
      const stop = () => wake?.();
      ctx.signal.addEventListener("abort", stop);
      deps.shutdown.addEventListener("abort", stop);
      try {
        while (!ctx.signal.aborted && !deps.shutdown.aborted) {
          if (dirty) {
            dirty = false;
            const msg: WatchProcessesResponse = create(WatchProcessesResponseSchema, { processes: list() });
            yield msg;
            continue;
          }
          await new Promise<void>((r) => (wake = r));
          wake = undefined;
        }
      } finally {
        unsubscribe();
        deps.scheduler.clearTimeout(timer);
        ctx.signal.removeEventListener("abort", stop);
        deps.shutdown.removeEventListener("abort", stop);
      }
    },

    startProcess(req) {
      return create(StartProcessResponseSchema, { process: toProcessInfo(supervisor.start(req.name)) });
    },

    async stopProcess(req) {
      return create(StopProcessResponseSchema, { process: toProcessInfo(await supervisor.stop(req.name)) });
    },

    async restartProcess(req) {
      return create(RestartProcessResponseSchema, { process: toProcessInfo(await supervisor.restart(req.name)) });
    },
  };
}
