// The process supervisor: runs the processes named in the config file (and nothing else),
// restarts them by policy with a jittered exponential backoff, gives up visibly (FATAL) on a
// crash loop, and stops whole process groups: SIGTERM, then SIGKILL after the stop timeout.
// Spawning, time and randomness are injected so the state machine is tested with fakes.

import type { ProcessConfig } from "../config.js";
import type { Clock } from "../clock.js";
import type { Scheduler } from "../services/topology/topology-watcher.js";
import { SupervisorErrors } from "./errors.js";

export type ProcessState = "STOPPED" | "STARTING" | "RUNNING" | "BACKOFF" | "STOPPING" | "EXITED" | "FATAL";

export interface ProcessStatus {
  name: string;
  language: string;
  state: ProcessState;
  pid: number;
  restarts: number;
  startedAtWallMs: number;
  uptimeMs: number;
  lastExitCode?: number;
  lastExitSignal: string;
  lastExit: string;
  cpuPercent: number;
  rssBytes: number;
  restartPolicy: string;
  autostart: boolean;
  fatalReason: string;
  nextStartAtWallMs: number;
}

/** What the supervisor needs of a running child. */
export interface ChildHandle {
  readonly pid: number;
  /** Signals the child's whole process group. */
  signalGroup(signal: NodeJS.Signals): void;
}

export interface ChildHooks {
  onLine(stream: "stdout" | "stderr", line: string): void;
  /** Called exactly once: the exit, or a spawn failure (code null, signal null, error set). */
  onExit(code: number | null, signal: NodeJS.Signals | null, error?: Error): void;
}

export interface Spawner {
  spawn(cfg: ProcessConfig, env: Record<string, string>, hooks: ChildHooks): ChildHandle;
}

export interface ResourceSample {
  cpuPercent: number;
  rssBytes: number;
}

export interface SupervisorDeps {
  spawner: Spawner;
  clock: Clock;
  scheduler: Scheduler;
  /** Uniform in [0, 1); injected for deterministic backoff tests. */
  random: () => number;
  /** Extra environment for every child (control-server addresses). */
  env: Record<string, string>;
  /** A process exited (or failed to spawn): "code 1", "signal SIGKILL", "spawn failed: …". */
  onExit?(name: string, detail: string): void;
  /** A child printed a line. */
  onLine?(name: string, stream: "stdout" | "stderr", line: string): void;
  /** Lifecycle markers for the log ("calculator exited (signal SIGKILL) → restarting in 200 ms"). */
  onEvent?(name: string, text: string, level: "info" | "warn" | "error"): void;
  /** Something about a process changed (state, pid, counters). */
  onChange?(name: string): void;
}

interface Managed {
  cfg: ProcessConfig;
  state: ProcessState;
  child?: ChildHandle;
  run: number;
  restarts: number;
  backoffMs: number;
  startedAt: number;
  startedAtWall: number;
  lastExitCode?: number;
  lastExitSignal: string;
  lastExit: string;
  fatalReason: string;
  failures: number[];
  timer?: unknown;
  minRunTimer?: unknown;
  killTimer?: unknown;
  nextStartAt: number;
  nextStartAtWall: number;
  exitWaiters: (() => void)[];
  lastManualRestartAt: number;
  sample: ResourceSample;
}

export class Supervisor {
  private readonly procs = new Map<string, Managed>();
  private shuttingDown = false;

  constructor(
    configs: ProcessConfig[],
    private readonly deps: SupervisorDeps,
  ) {
    for (const cfg of configs) {
      this.procs.set(cfg.name, {
        cfg,
        state: "STOPPED",
        run: 0,
        restarts: 0,
        backoffMs: cfg.backoffInitialMs,
        startedAt: 0,
        startedAtWall: 0,
        lastExitSignal: "",
        lastExit: "",
        fatalReason: "",
        failures: [],
        nextStartAt: 0,
        nextStartAtWall: 0,
        exitWaiters: [],
        lastManualRestartAt: Number.NEGATIVE_INFINITY,
        sample: { cpuPercent: 0, rssBytes: 0 },
      });
    }
  }

  /** Sets the environment every child gets (the listeners' ports are known only after listen). */
  setEnv(env: Record<string, string>): void {
    this.deps.env = env;
  }

  names(): string[] {
    return [...this.procs.keys()];
  }

  startAll(): void {
    for (const p of this.procs.values()) if (p.cfg.autostart) this.spawn(p);
  }

  list(): ProcessStatus[] {
    return [...this.procs.values()].map((p) => this.status(p));
  }

  get(name: string): ProcessStatus {
    return this.status(this.find(name));
  }

  /** Restarts seen for a process name, for the topology's nodes. */
  restartCount(name: string): number | undefined {
    return this.procs.get(name)?.restarts;
  }

  /** Pids of running children, for the resource sampler. */
  runningPids(): Map<string, number> {
    const out = new Map<string, number>();
    for (const p of this.procs.values()) if (p.child) out.set(p.cfg.name, p.child.pid);
    return out;
  }

  updateSample(name: string, sample: ResourceSample): void {
    const p = this.procs.get(name);
    if (p?.child) p.sample = sample;
  }

  /** Starts a process that is not running; clears FATAL and the failure history. */
  start(name: string): ProcessStatus {
    const p = this.find(name);
    if (this.shuttingDown) throw SupervisorErrors.shuttingDown();
    if (p.state === "STARTING" || p.state === "RUNNING" || p.state === "STOPPING") {
      throw SupervisorErrors.alreadyRunning(name, p.state);
    }
    this.clearTimer(p);
    p.failures = [];
    p.fatalReason = "";
    p.backoffMs = p.cfg.backoffInitialMs;
    if (p.run > 0) p.restarts++;
    this.deps.onEvent?.(name, `${name} started by request`, "info");
    this.spawn(p);
    return this.status(p);
  }

  /** Stops a process group; resolves when the process is gone. */
  async stop(name: string): Promise<ProcessStatus> {
    const p = this.find(name);
    await this.stopManaged(p, true);
    return this.status(p);
  }

  /** Stop-then-start, rate-limited per process. */
  async restart(name: string): Promise<ProcessStatus> {
    const p = this.find(name);
    if (this.shuttingDown) throw SupervisorErrors.shuttingDown();
    const now = this.deps.clock.now();
    const wait = p.lastManualRestartAt + p.cfg.manualRestartIntervalMs - now;
    if (wait > 0) throw SupervisorErrors.restartTooSoon(name, wait);
    p.lastManualRestartAt = now;
    this.deps.onEvent?.(name, `${name} restart requested`, "info");
    await this.stopManaged(p, false);
    if (this.shuttingDown) throw SupervisorErrors.shuttingDown();
    p.failures = [];
    p.fatalReason = "";
    p.backoffMs = p.cfg.backoffInitialMs;
    p.restarts++;
    this.spawn(p);
    return this.status(p);
  }

  /**
   * Sends a signal to a running process's group, as an outside `kill` would (chaos: SIGKILL for
   * a crash). The restart policy then treats the exit like any other. Returns the pid signalled.
   */
  kill(name: string, signal: NodeJS.Signals): number {
    const p = this.find(name);
    const child = p.child;
    if (!child || (p.state !== "STARTING" && p.state !== "RUNNING")) throw SupervisorErrors.notRunning(name, p.state);
    this.deps.onEvent?.(name, `${name} (pid ${child.pid}) sent ${signal} by request`, "warn");
    child.signalGroup(signal);
    return child.pid;
  }

  /** Stops every process group, for shutdown. No restarts happen afterwards. */
  async stopAll(): Promise<void> {
    this.shuttingDown = true;
    await Promise.all([...this.procs.values()].map((p) => this.stopManaged(p, true)));
  }

  // --- internals ---------------------------------------------------------------------------

  private find(name: string): Managed {
    if (name === "") throw SupervisorErrors.nameRequired();
    const p = this.procs.get(name);
    if (!p) throw SupervisorErrors.unknownProcess(name, this.names());
    return p;
  }

  private status(p: Managed): ProcessStatus {
    const running = p.child !== undefined;
    return {
      name: p.cfg.name,
      language: p.cfg.language,
      state: p.state,
      pid: p.child?.pid ?? 0,
      restarts: p.restarts,
      startedAtWallMs: running ? p.startedAtWall : 0,
      uptimeMs: running ? Math.max(0, this.deps.clock.now() - p.startedAt) : 0,
      lastExitCode: p.lastExitCode,
      lastExitSignal: p.lastExitSignal,
      lastExit: p.lastExit,
      cpuPercent: running ? p.sample.cpuPercent : 0,
      rssBytes: running ? p.sample.rssBytes : 0,
      restartPolicy: p.cfg.restart,
      autostart: p.cfg.autostart,
      fatalReason: p.fatalReason,
      nextStartAtWallMs: p.state === "BACKOFF" ? p.nextStartAtWall : 0,
    };
  }

  private setState(p: Managed, state: ProcessState): void {
    p.state = state;
    this.deps.onChange?.(p.cfg.name);
  }

  private clearTimer(p: Managed): void {
    if (p.timer !== undefined) this.deps.scheduler.clearTimeout(p.timer);
    p.timer = undefined;
  }

  private spawn(p: Managed): void {
    if (this.shuttingDown) return;
    const run = ++p.run;
    p.startedAt = this.deps.clock.now();
    p.startedAtWall = this.deps.clock.wallNow();
    p.sample = { cpuPercent: 0, rssBytes: 0 };
    this.setState(p, "STARTING");
    const env = { ...this.deps.env, ...p.cfg.env, MR_PROCESS_NAME: p.cfg.name };
    p.child = this.deps.spawner.spawn(p.cfg, env, {
      onLine: (stream, line) => this.deps.onLine?.(p.cfg.name, stream, line),
      onExit: (code, signal, error) => this.onExit(p, run, code, signal, error),
    });
    if (p.run === run && p.child) {
      this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} started (pid ${p.child.pid})`, "info");
      p.minRunTimer = this.deps.scheduler.setTimeout(() => {
        if (p.run === run && p.state === "STARTING") this.setState(p, "RUNNING");
      }, p.cfg.minRunMs);
      this.deps.onChange?.(p.cfg.name);
    }
  }

  private onExit(p: Managed, run: number, code: number | null, signal: NodeJS.Signals | null, error?: Error): void {
    if (run !== p.run) return;
    const child = p.child;
    p.child = undefined;
    if (p.minRunTimer !== undefined) this.deps.scheduler.clearTimeout(p.minRunTimer);
    if (p.killTimer !== undefined) this.deps.scheduler.clearTimeout(p.killTimer);
    p.minRunTimer = p.killTimer = undefined;
    // The leader is gone; whatever it left in its group (grandchildren) goes too: no orphans.
    child?.signalGroup("SIGKILL");
    p.lastExitCode = code ?? undefined;
    p.lastExitSignal = signal ?? "";
    p.lastExit = error ? `spawn failed: ${error.message}` : signal ? `signal ${signal}` : `code ${code}`;
    this.deps.onExit?.(p.cfg.name, p.lastExit);
    const waiters = p.exitWaiters.splice(0);

    if (p.state === "STOPPING" || this.shuttingDown) {
      this.setState(p, "STOPPED");
      this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} stopped (${p.lastExit})`, "info");
      for (const w of waiters) w();
      return;
    }
    const now = this.deps.clock.now();
    const runMs = now - p.startedAt;
    const failed = error !== undefined || signal !== null || code !== 0;
    const policy = p.cfg.restart;
    const restart = policy === "always" || (policy === "on-failure" && failed);
    if (!restart) {
      this.setState(p, "EXITED");
      this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} exited (${p.lastExit}); restart policy ${policy}: not restarted`, failed ? "warn" : "info");
      for (const w of waiters) w();
      return;
    }
    if (runMs < p.cfg.minRunMs) {
      p.failures.push(now);
      p.failures = p.failures.filter((t) => now - t < p.cfg.failureWindowMs);
      if (p.failures.length >= p.cfg.failureBudget) {
        p.fatalReason = `${p.failures.length} failed starts within ${Math.round(p.cfg.failureWindowMs / 1000)} s (last: ${p.lastExit})`;
        this.setState(p, "FATAL");
        this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} is FATAL: ${p.fatalReason}; start it by hand once fixed`, "error");
        for (const w of waiters) w();
        return;
      }
    }
    if (runMs >= p.cfg.stableRunMs) p.backoffMs = p.cfg.backoffInitialMs;
    const jitter = 1 + p.cfg.backoffJitter * (2 * this.deps.random() - 1);
    const delay = Math.max(0, Math.round(p.backoffMs * jitter));
    p.backoffMs = Math.min(p.cfg.backoffMaxMs, p.backoffMs * 2);
    p.nextStartAt = now + delay;
    p.nextStartAtWall = this.deps.clock.wallNow() + delay;
    this.setState(p, "BACKOFF");
    this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} exited (${p.lastExit}) → restarting in ${delay} ms`, failed ? "warn" : "info");
    p.timer = this.deps.scheduler.setTimeout(() => {
      p.timer = undefined;
      if (p.state !== "BACKOFF") return;
      p.restarts++;
      this.spawn(p);
    }, delay);
    for (const w of waiters) w();
  }

  private async stopManaged(p: Managed, announce: boolean): Promise<void> {
    this.clearTimer(p);
    const child = p.child;
    if (!child) {
      if (p.state === "BACKOFF" || p.state === "STARTING") this.setState(p, "STOPPED");
      else if (announce && p.state !== "STOPPED" && p.state !== "EXITED" && p.state !== "FATAL") this.setState(p, "STOPPED");
      return;
    }
    const exited = new Promise<void>((resolve) => p.exitWaiters.push(resolve));
    if (p.state !== "STOPPING") {
      this.setState(p, "STOPPING");
      child.signalGroup("SIGTERM");
      p.killTimer = this.deps.scheduler.setTimeout(() => {
        p.killTimer = undefined;
        if (p.child === child) {
          this.deps.onEvent?.(p.cfg.name, `${p.cfg.name} ignored SIGTERM for ${p.cfg.stopTimeoutMs} ms: SIGKILL`, "warn");
          child.signalGroup("SIGKILL");
        }
      }, p.cfg.stopTimeoutMs);
    }
    await exited;
  }
}
