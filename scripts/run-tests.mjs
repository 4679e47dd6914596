// Runs every test suite of the project in order, keeps going after a failure, and ends with one
// summary: a table per suite and the line "tests: N passed, M failed".
// Usage: node scripts/run-tests.mjs [suite-name …]   (no names = all suites)

import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const results = path.join(root, "test-results");
rmSync(path.join(results, "reports"), { recursive: true, force: true });
mkdirSync(path.join(results, "reports"), { recursive: true });

const vitest = (name, dir) => ({
  name,
  kind: "vitest",
  cwd: path.join(root, dir),
  cmd: ["pnpm", "exec", "vitest", "run", "--reporter=default", "--reporter=json", `--outputFile.json=${path.join(results, "reports", name + ".json")}`],
  report: path.join(results, "reports", name + ".json"),
});

const suites = [
  { name: "proto", kind: "plain", cwd: root, cmd: ["bash", "scripts/check-proto.sh"] },
  { name: "typecheck", kind: "plain", cwd: root, cmd: ["bash", "scripts/typecheck.sh"] },
  vitest("server", "server"),
  vitest("web-unit", "web"),
  vitest("service-kit", "services/kit"),
  vitest("calculator", "services/calculator"),
  vitest("ingest", "services/ingest"),
  vitest("sink", "services/sink"),
  // The other languages' stages: each test.sh ends with "TESTS: passed=N failed=M skipped=K".
  ...["parse", "rules", "aggregate"].map((stage) => ({
    name: stage,
    kind: "summary",
    cwd: root,
    cmd: ["bash", `services/${stage}/scripts/test.sh`],
  })),
  ...(existsSync(path.join(root, "pipeline/test")) ? [vitest("pipeline", "pipeline")] : []),
  ...(existsSync(path.join(root, "cpp/scripts/test.sh"))
    ? [{ name: "cpp", kind: "ctest", cwd: root, cmd: ["bash", "cpp/scripts/test.sh"] }]
    : []),
  {
    name: "e2e",
    kind: "playwright",
    cwd: path.join(root, "web"),
    cmd: ["pnpm", "exec", "playwright", "test"],
    env: { PLAYWRIGHT_JSON_OUTPUT_NAME: path.join(results, "reports", "e2e.json") },
    report: path.join(results, "reports", "e2e.json"),
  },
];

const wanted = process.argv.slice(2);
const chosen = wanted.length ? suites.filter((s) => wanted.includes(s.name)) : suites;
if (wanted.length && chosen.length !== wanted.length) {
  console.error(`unknown suite(s): ${wanted.filter((w) => !suites.some((s) => s.name === w)).join(", ")}; known: ${suites.map((s) => s.name).join(", ")}`);
  process.exit(2);
}

function run(s) {
  return new Promise((resolve) => {
    let out = "";
    const child = spawn(s.cmd[0], s.cmd.slice(1), { cwd: s.cwd, env: { ...process.env, ...s.env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d) => {
      out += d;
      process.stdout.write(d);
    });
    child.stderr.on("data", (d) => {
      out += d;
      process.stderr.write(d);
    });
    child.on("exit", (code, signal) => resolve({ code: code ?? 1, signal, out }));
  });
}

function counts(s, res) {
  try {
    if (s.kind === "vitest") {
      const r = JSON.parse(readFileSync(s.report, "utf8"));
      return { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + (r.numTodoTests ?? 0) };
    }
    if (s.kind === "playwright") {
      const r = JSON.parse(readFileSync(s.report, "utf8")).stats;
      return { passed: r.expected + r.flaky, failed: r.unexpected, skipped: r.skipped };
    }
    if (s.kind === "summary") {
      const m = [...res.out.matchAll(/^TESTS: passed=(\d+) failed=(\d+) skipped=(\d+)$/gm)].at(-1);
      if (m) return { passed: Number(m[1]), failed: Number(m[2]), skipped: Number(m[3]) };
    }
    if (s.kind === "ctest") {
      let passed = 0;
      let failed = 0;
      for (const m of res.out.matchAll(/(\d+)% tests passed, (\d+) tests? failed out of (\d+)/g)) {
        failed += Number(m[2]);
        passed += Number(m[3]) - Number(m[2]);
      }
      return { passed, failed, skipped: 0 };
    }
  } catch {
    // No report: counted by exit code below.
  }
  return undefined;
}

const summary = [];
for (const s of chosen) {
  console.log(`\n━━━ ${s.name}: ${s.cmd.join(" ")}`);
  const started = Date.now();
  const res = await run(s);
  const c = counts(s, res) ?? { passed: res.code === 0 ? 1 : 0, failed: res.code === 0 ? 0 : 1, skipped: 0 };
  if (res.code !== 0 && c.failed === 0) c.failed = 1; // a crash or a failing check outside the test counts
  summary.push({ name: s.name, ok: res.code === 0, seconds: (Date.now() - started) / 1000, ...c });
}

console.log("\n━━━ summary");
for (const r of summary) {
  console.log(
    `${r.ok ? "ok  " : "FAIL"} ${r.name.padEnd(12)} ${String(r.passed).padStart(5)} passed ${String(r.failed).padStart(4)} failed ${String(r.skipped).padStart(4)} skipped  ${r.seconds.toFixed(1)} s`,
  );
}
const passed = summary.reduce((a, r) => a + r.passed, 0);
const failed = summary.reduce((a, r) => a + r.failed, 0);
const skipped = summary.reduce((a, r) => a + r.skipped, 0);
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(summary.every((r) => r.ok) ? 0 : 1);
