import { Code, ConnectError } from "@connectrpc/connect";
import { beforeEach, describe, expect, it } from "vitest";
import { FakeClock, FakeScheduler } from "../clock.js";
import { processDefaults, type ProcessConfig, type RestartPolicy } from "../config.js";
import { Supervisor, type ChildHandle, type ChildHooks, type Spawner } from "./supervisor.js";

/** A spawner whose children exit when the test says so. */
class FakeSpawner implements Spawner {
  children: { pid: number; hooks: ChildHooks; signals: NodeJS.Signals[]; env: Record<string, string> }[] = [];
  private nextPid = 100;
  /** When set, a SIGTERM makes the child exit at once with that signal. */
  obeySigterm = true;
  spawn(_cfg: ProcessConfig, env: Record<string, string>, hooks: ChildHooks): ChildHandle {
    const c = { pid: this.nextPid++, hooks, signals: [] as NodeJS.Signals[], env, exited: false };
    this.children.push(c);
    const spawner = this;
    return {
      pid: c.pid,
      signalGroup(sig) {
        c.signals.push(sig);
        if (c.exited) return;
        if (sig === "SIGKILL" || (sig === "SIGTERM" && spawner.obeySigterm)) {
          c.exited = true;
          queueMicrotask(() => hooks.onExit(null, sig));
        }
      },
    };
  }
  get last() {
    return this.children[this.children.length - 1];
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null) {
    this.last.hooks.onExit(code, signal);
  }
}

function cfg(over: Partial<ProcessConfig> = {}): ProcessConfig {
  return {
    name: "svc",
    command: "x",
    cwd: "/",
    ...processDefaults,
    language: "typescript",
    backoffJitter: 0,
    ...over,
  };
}

let clock: FakeClock;
let sched: FakeScheduler;
let spawner: FakeSpawner;
let events: string[];
let exits: string[];

function make(over: Partial<ProcessConfig> = {}, random = () => 0.5) {
  const sup = new Supervisor([cfg(over)], {
    spawner,
    clock,
    scheduler: sched,
    random,
    env: { MR_CONTROL_URL: "http://127.0.0.1:3001" },
    onEvent: (_n, t) => events.push(t),
    onExit: (n, d) => exits.push(`${n}: ${d}`),
  });
  sup.startAll();
  return sup;
}

beforeEach(() => {
  clock = new FakeClock();
  sched = new FakeScheduler(clock);
  spawner = new FakeSpawner();
  events = [];
  exits = [];
});

describe("restart policy truth table", () => {
  const cases: [RestartPolicy, string, number | null, NodeJS.Signals | null, boolean][] = [
    ["always", "exit 0", 0, null, true],
    ["always", "exit 1", 1, null, true],
    ["always", "SIGKILL", null, "SIGKILL", true],
    ["on-failure", "exit 0", 0, null, false],
    ["on-failure", "exit 1", 1, null, true],
    ["on-failure", "SIGKILL", null, "SIGKILL", true],
    ["never", "exit 0", 0, null, false],
    ["never", "exit 1", 1, null, false],
    ["never", "SIGKILL", null, "SIGKILL", false],
  ];
  it.each(cases)("%s + %s -> restarted: %s", (policy, _what, code, signal, restarted) => {
    const sup = make({ restart: policy });
    sched.advance(5000); // a stable run, so it is not a failed start
    expect(sup.get("svc").state).toBe("RUNNING");
    spawner.exit(code, signal);
    expect(sup.get("svc").state).toBe(restarted ? "BACKOFF" : "EXITED");
    sched.advance(300);
    expect(spawner.children).toHaveLength(restarted ? 2 : 1);
    expect(sup.get("svc").restarts).toBe(restarted ? 1 : 0);
    expect(sup.get("svc").lastExit).toBe(signal ? `signal ${signal}` : `code ${code}`);
    expect(exits).toEqual([`svc: ${signal ? `signal ${signal}` : `code ${code}`}`]);
  });
});

describe("backoff and FATAL", () => {
  it("first restart within 250 ms, then doubling to the cap, reset after a stable run", () => {
    const sup = make({ failureBudget: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 10; i++) {
      spawner.exit(1);
      delays.push(sup.get("svc").nextStartAtWallMs - clock.wallNow());
      sched.advance(delays[i]);
      expect(spawner.children).toHaveLength(i + 2);
    }
    expect(delays).toEqual([200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000]);
    sched.advance(60_000); // a stable run resets the backoff
    spawner.exit(1);
    expect(sup.get("svc").nextStartAtWallMs - clock.wallNow()).toBe(200);
  });

  it("jitter stays within ±20 % and the first restart within 250 ms", () => {
    for (const r of [0, 0.25, 0.999]) {
      spawner = new FakeSpawner();
      const sup = make({ backoffJitter: 0.2 }, () => r);
      spawner.exit(1);
      const d = sup.get("svc").nextStartAtWallMs - clock.wallNow();
      expect(d).toBeGreaterThanOrEqual(160);
      expect(d).toBeLessThanOrEqual(240);
    }
  });

  it("a crash loop ends FATAL after the failure budget, visibly, and a manual start clears it", () => {
    const sup = make({ failureBudget: 5, failureWindowMs: 60_000 });
    for (let i = 0; i < 4; i++) {
      spawner.exit(1); // each run lasts < minRunMs: a failed start
      sched.advance(sup.get("svc").nextStartAtWallMs - clock.wallNow());
    }
    expect(sup.get("svc").state).toBe("STARTING");
    spawner.exit(1);
    expect(sup.get("svc").state).toBe("FATAL");
    expect(sup.get("svc").fatalReason).toBe("5 failed starts within 60 s (last: code 1)");
    expect(events.at(-1)).toMatch(/svc is FATAL/);
    sched.advance(120_000);
    expect(spawner.children).toHaveLength(5); // nothing restarts a FATAL process
    sup.start("svc");
    expect(sup.get("svc").state).toBe("STARTING");
    expect(spawner.children).toHaveLength(6);
  });

  it("failed starts outside the window do not count", () => {
    const sup = make({ failureBudget: 3, failureWindowMs: 10_000 });
    for (let i = 0; i < 10; i++) {
      spawner.exit(1);
      sched.advance(6000);
    }
    expect(sup.get("svc").state).not.toBe("FATAL");
  });

  it("STARTING becomes RUNNING after the minimum run time", () => {
    const sup = make();
    expect(sup.get("svc").state).toBe("STARTING");
    sched.advance(999);
    expect(sup.get("svc").state).toBe("STARTING");
    sched.advance(1);
    expect(sup.get("svc").state).toBe("RUNNING");
  });
});

describe("stop, start and restart", () => {
  it("stop sends SIGTERM to the group and SIGKILL after the timeout when ignored", async () => {
    spawner.obeySigterm = false;
    const sup = make({ stopTimeoutMs: 500 });
    const stopped = sup.stop("svc");
    expect(sup.get("svc").state).toBe("STOPPING");
    expect(spawner.last.signals).toEqual(["SIGTERM"]);
    sched.advance(499);
    expect(spawner.last.signals).toEqual(["SIGTERM"]);
    sched.advance(1);
    await stopped;
    expect(spawner.last.signals.slice(0, 2)).toEqual(["SIGTERM", "SIGKILL"]);
    expect(sup.get("svc").state).toBe("STOPPED");
    sched.advance(60_000);
    expect(spawner.children).toHaveLength(1); // a stopped process stays stopped
  });

  it("the leader's exit kills what is left of its group (no orphans)", () => {
    make();
    spawner.exit(1);
    expect(spawner.children[0].signals).toContain("SIGKILL");
  });

  it("passes the control-server environment and its name to the child", () => {
    make();
    expect(spawner.last.env).toMatchObject({ MR_CONTROL_URL: "http://127.0.0.1:3001", MR_PROCESS_NAME: "svc" });
  });

  it("manual restarts give a new pid, count, and are rate-limited", async () => {
    const sup = make({ manualRestartIntervalMs: 2000 });
    const first = sup.get("svc").pid;
    const restarting = sup.restart("svc");
    await restarting;
    expect(sup.get("svc").pid).not.toBe(first);
    expect(sup.get("svc").restarts).toBe(1);
    await expect(sup.restart("svc")).rejects.toMatchObject({ code: Code.ResourceExhausted });
    sched.advance(2000);
    await sup.restart("svc");
    expect(sup.get("svc").restarts).toBe(2);
  });

  it("refuses unknown names and starting a running process with clear errors", () => {
    const sup = make();
    const err = (fn: () => unknown) => {
      try {
        fn();
      } catch (e) {
        return e as ConnectError;
      }
      throw new Error("expected an error");
    };
    const unknown = err(() => sup.get("nope"));
    expect(unknown.code).toBe(Code.NotFound);
    expect(unknown.rawMessage).toBe('unknown process "nope"; the config file defines: svc');
    expect(err(() => sup.start("svc")).code).toBe(Code.FailedPrecondition);
  });

  it("kill signals the running child's group and the restart policy takes over (chaos CRASH)", async () => {
    const sup = make({ restart: "always" });
    const pid = sup.get("svc").pid;
    expect(sup.kill("svc", "SIGKILL")).toBe(pid);
    expect(spawner.last.signals).toEqual(["SIGKILL"]);
    await Promise.resolve();
    expect(sup.get("svc")).toMatchObject({ state: "BACKOFF", lastExit: "signal SIGKILL" });
    expect(() => sup.kill("svc", "SIGKILL")).toThrow(expect.objectContaining({ code: Code.FailedPrecondition }));
    expect(() => sup.kill("svc", "SIGKILL")).toThrow('process "svc" is not running (BACKOFF)');
    sched.advance(250);
    expect(sup.get("svc").pid).not.toBe(pid);
    expect(sup.get("svc").restarts).toBe(1);
    expect(() => sup.kill("nope", "SIGKILL")).toThrow(expect.objectContaining({ code: Code.NotFound }));
  });

  it("stopAll stops everything and nothing restarts afterwards", async () => {
    const sup = make();
    await sup.stopAll();
    expect(sup.get("svc").state).toBe("STOPPED");
    sched.advance(60_000);
    expect(spawner.children).toHaveLength(1);
    expect(() => sup.start("svc")).toThrow(/shutting down/);
  });
});
