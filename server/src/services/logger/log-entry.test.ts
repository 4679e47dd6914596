import { describe, expect, it } from "vitest";
import { DEBUG, ERROR, FATAL, INFO, parseLine, WARN } from "./log-entry.js";

const NOW = 1_700_000_000_000;

describe("parseLine", () => {
  it("reads JSON lines: level, msg, correlation id, time and other fields", () => {
    const e = parseLine(
      "calculator-server",
      "stdout",
      JSON.stringify({ ts: NOW - 5, level: "error", msg: "divide by zero", service: "x", correlationId: "req-1", a: 1, b: "two", c: { d: true } }),
      NOW,
      "inst-1",
    );
    expect(e).toEqual({
      service: "calculator-server",
      instance: "inst-1",
      stream: "stdout",
      ts: NOW - 5,
      level: ERROR,
      msg: "divide by zero",
      corr: "req-1",
      fields: { a: "1", b: "two", c: '{"d":true}' },
    });
  });

  it("accepts message/correlation_id, ISO times and pino's numeric levels", () => {
    const e = parseLine("s", "stdout", '{"time":"2026-01-02T03:04:05Z","level":50,"message":"m","correlation_id":"c"}', NOW);
    expect(e).toMatchObject({ ts: Date.UTC(2026, 0, 2, 3, 4, 5), level: ERROR, msg: "m", corr: "c" });
    expect(parseLine("s", "stdout", '{"level":"warning","msg":"w"}', NOW).level).toBe(WARN);
    expect(parseLine("s", "stdout", '{"level":"trace","msg":"t"}', NOW).level).toBe(DEBUG);
    expect(parseLine("s", "stdout", '{"level":60}', NOW)).toMatchObject({ level: FATAL, msg: "" });
  });

  it("plain stdout is INFO, plain stderr WARN, error-looking stderr ERROR", () => {
    expect(parseLine("s", "stdout", "listening on :50051", NOW)).toEqual({ service: "s", stream: "stdout", ts: NOW, level: INFO, msg: "listening on :50051" });
    expect(parseLine("s", "stderr", "deprecated option --foo", NOW).level).toBe(WARN);
    expect(parseLine("s", "stderr", "Error: ECONNREFUSED 127.0.0.1:3001", NOW).level).toBe(ERROR);
    expect(parseLine("s", "stderr", "TypeError: x is not a function", NOW).level).toBe(ERROR);
    expect(parseLine("s", "stderr", "Traceback (most recent call last):", NOW).level).toBe(ERROR);
    expect(parseLine("s", "stderr", "thread 'main' panicked at src/main.rs:3:5", NOW).level).toBe(ERROR);
    expect(parseLine("s", "stderr", "cmake: error: no such file", NOW).level).toBe(ERROR);
  });

  it("honours a leading level word on plain lines", () => {
    expect(parseLine("s", "stdout", "ERROR something broke", NOW).level).toBe(ERROR);
    expect(parseLine("s", "stderr", "INFO:root:started", NOW).level).toBe(INFO);
    expect(parseLine("s", "stdout", "[warn] slow", NOW).level).toBe(WARN);
    expect(parseLine("s", "stdout", "information overload", NOW).level).toBe(INFO);
  });

  it("treats broken JSON and non-object JSON as plain text", () => {
    expect(parseLine("s", "stdout", '{"level":"error"', NOW)).toMatchObject({ level: INFO, msg: '{"level":"error"' });
    expect(parseLine("s", "stdout", "[1,2]", NOW)).toMatchObject({ level: INFO, msg: "[1,2]" });
  });
});
