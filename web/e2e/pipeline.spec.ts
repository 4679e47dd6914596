// The split pipeline as the audience sees it: a run started from the CLI against the dashboard's
// control server, the chain ingest → parse → rules → aggregate → sink lit up with live events/s
// on every edge while it runs, and the run's checksum at the end.

import { expect, test } from "@playwright/test";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const SHOTS = "../test-results/screenshots";
const CLI = ["--import", "tsx", "../pipeline/src/cli.ts"];
const CHAIN = ["ingest", "parse", "rules", "aggregate", "sink"];

test("a split run shows events/s on every edge of the chain", async ({ page, baseURL }) => {
  const dir = mkdtempSync(join(tmpdir(), "e2e-split-"));
  try {
    const input = join(dir, "events.ndjson");
    const gen = spawnSync(process.execPath, [...CLI, "generate", "--events", "3000000", "--seed", "11", "--invalid-ratio", "0.01", "--out", input], { encoding: "utf8" });
    expect(gen.status, gen.stderr).toBe(0);

    await page.goto("/");
    await expect(page.getByTestId("stream-status")).toHaveAttribute("data-status", "live", { timeout: 10_000 });
    for (const name of CHAIN) await expect(page.getByTestId(`node-${name}`)).toBeVisible({ timeout: 30_000 });

    const controlUrl = baseURL!.replace("localhost", "127.0.0.1");
    const run = spawn(process.execPath, [...CLI, "run", "--mode", "split", "--control-url", controlUrl, "--input", input, "--out", join(dir, "out"), "--batch-size", "2000"], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    run.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number>((resolve) => run.on("exit", (code) => resolve(code ?? 1)));

    for (let i = 0; i < CHAIN.length - 1; i++) {
      const label = page.getByTestId(`edge-label-${CHAIN[i]}->${CHAIN[i + 1]}`);
      await expect(label).toHaveAttribute("data-state", "ACTIVE", { timeout: 15_000 });
      await expect(label).toContainText("ev/s");
    }
    await page.waitForTimeout(1000);
    await page.screenshot({ path: `${SHOTS}/split-pipeline-live.png` });

    expect(await exited, stderr).toBe(0);
    expect(stderr).toMatch(/run split: 3000000 lines \(\d+ invalid, \d+ dropped\) .* checksum [0-9a-f]{64}/);
    const metrics = JSON.parse(readFileSync(join(dir, "out", "metrics.json"), "utf8"));
    expect(metrics.stages.map((s: { stage: string }) => s.stage)).toEqual(CHAIN);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
