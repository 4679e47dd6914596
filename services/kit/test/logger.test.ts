import { describe, expect, it } from "vitest";
import { createLogger, newCorrelationId } from "../src/index.js";

function capture(level?: "debug" | "info" | "warn" | "error" | "fatal") {
  const lines: string[] = [];
  const log = createLogger({ service: "calc", level, write: (l) => lines.push(l), now: () => 1700000000000 });
  return { log, lines, parsed: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe("createLogger", () => {
  it("writes one JSON object per line with ts, level, msg, service and fields", () => {
    const { log, lines } = capture();
    log.info("serving", { port: 50051 });
    expect(lines).toEqual(['{"ts":1700000000000,"level":"info","msg":"serving","service":"calc","port":50051}\n']);
  });

  it("drops lines below the level and says which levels are enabled", () => {
    const { log, parsed } = capture("warn");
    log.debug("d");
    log.info("i");
    log.warn("w");
    log.error("e");
    log.fatal("f");
    expect(parsed().map((l) => l.level)).toEqual(["warn", "error", "fatal"]);
    expect(log.enabled("info")).toBe(false);
    expect(log.enabled("error")).toBe(true);
  });

  it("child loggers carry a correlation id and bindings, without touching the parent", () => {
    const { log, parsed } = capture();
    const req = log.child({ correlationId: "req-42", user: "u1" });
    req.warn("slow divide", { ms: 1200 });
    req.child({ step: "parse" }).info("nested");
    log.info("parent");
    expect(parsed()).toEqual([
      { ts: 1700000000000, level: "warn", msg: "slow divide", service: "calc", correlationId: "req-42", user: "u1", ms: 1200 },
      { ts: 1700000000000, level: "info", msg: "nested", service: "calc", correlationId: "req-42", user: "u1", step: "parse" },
      { ts: 1700000000000, level: "info", msg: "parent", service: "calc" },
    ]);
  });

  it("keeps reserved keys, serialises errors and bigints, survives circular fields", () => {
    const { log, parsed } = capture();
    const circular: Record<string, unknown> = {};
    circular.self = circular;
    log.error("failed", { level: "debug", msg: "x", err: new TypeError("bad"), n: 10n });
    log.info("loop", { circular });
    const [a, b] = parsed();
    expect(a).toMatchObject({ level: "error", msg: "failed", err: { name: "TypeError", message: "bad" }, n: "10" });
    expect(b).toMatchObject({ level: "info", msg: "loop", logError: expect.stringContaining("fields not serialisable") });
  });

  it("makes unique correlation ids", () => {
    expect(newCorrelationId()).not.toBe(newCorrelationId());
  });
});
