import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "./config.js";

const parse = (text: string) => parseConfig(text, "/base", "test.yaml");

describe("parseConfig", () => {
  it("fills defaults for an empty file", () => {
    const c = parse("");
    expect(c.server).toMatchObject({ host: "127.0.0.1", httpPort: 3000, h2cPort: 3001, webDir: "/base/web/dist" });
    expect(c.topology).toMatchObject({ heartbeatIntervalMs: 5000, staleMultiplier: 2, deadMultiplier: 3 });
    expect(c.processes).toEqual([]);
    expect(c.logs).toMatchObject({ dir: "/base/.runtime/logs", capacity: 10000, ratePerSecond: 2000, burst: 4000 });
  });

  it("reads processes with resolved paths and defaults", () => {
    const c = parse(`
processes:
  - name: calc
    command: node
    args: [a.js, --rate, 5]
    cwd: services
    env: { A: 1 }
`);
    expect(c.processes[0]).toEqual({
      name: "calc",
      command: "node",
      args: ["a.js", "--rate", "5"],
      cwd: "/base/services",
      env: { A: "1" },
      language: "unknown",
      restart: "always",
      autostart: true,
      stopTimeoutMs: 10000,
      backoffInitialMs: 200,
      backoffMaxMs: 30000,
      backoffJitter: 0.2,
      stableRunMs: 60000,
      minRunMs: 1000,
      failureBudget: 5,
      failureWindowMs: 60000,
      manualRestartIntervalMs: 2000,
      faultProxy: false,
    });
  });

  it.each([
    ["server: { httpPort: 70000 }", /server.httpPort must be an integer in 0..65535, got 70000/],
    ["topology: { staleMultiplier: 3, deadMultiplier: 3 }", /deadMultiplier \(3\) must be greater than topology.staleMultiplier \(3\)/],
    ["processes: [{ name: a, command: x, restart: sometimes }]", /restart must be always, on-failure or never, got "sometimes"/],
    ["processes: [{ name: a, command: x }, { name: a, command: y }]", /name "a" is used twice/],
    ["processes: [{ name: a, command: x, shell: true }]", /processes\[0\]: unknown key "shell"/],
    ["processes: [{ name: a }]", /processes\[0\].command is required/],
    ["server: { host: 0.0.0.0 }", /beyond loopback: set server.controlToken/],
    ["server: [1", /not valid YAML/],
    ["processes: [{ name: a, command: x, faultProxy: yes please }]", /processes\[0\].faultProxy must be true or false, got "yes please"/],
    ["processes: [{ name: a, command: x, autostart: 1 }]", /processes\[0\].autostart must be true or false, got 1/],
    ["logs: { capacity: 5 }", /logs.capacity must be an integer in 100..10000000, got 5/],
  ])("rejects %s", (text, message) => {
    expect(() => parse(text)).toThrow(ConfigError);
    expect(() => parse(text)).toThrow(message);
  });

  it("reads faultProxy per process (off unless asked for)", () => {
    const c = parse("processes: [{ name: a, command: x, faultProxy: true }, { name: b, command: y }]");
    expect(c.processes.map((p) => p.faultProxy)).toEqual([true, false]);
  });

  it("allows binding beyond loopback with a control token", () => {
    expect(parse("server: { host: 0.0.0.0, controlToken: abc }").server.host).toBe("0.0.0.0");
  });
});
